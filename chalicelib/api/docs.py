"""``/openapi.json`` and ``/docs/``: the schema and its explorer, no key needed (SPEC section 6).

The document and the page are built on first use (:mod:`chalicelib.schema`), so a cold
start of the API pays nothing for them.
"""
from __future__ import annotations

import re

from chalice import Blueprint, Response

from typing import Any, Mapping

from chalicelib import errors
from chalicelib.api.routing import GENERATED_PREFIX, ApiRequest, endpoint

docs = Blueprint(__name__)

SCHEMA_PATH = "/openapi.json"
DOCS_PATH = "/docs"
FORMATS = {"json": "application/json", "yaml": "application/yaml"}
_JSON_TYPES = ("application/json", "application/vnd.oai.openapi+json")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
               "application/vnd.oai.openapi")
_STAGE = re.compile(r"(/[A-Za-z0-9_-]+)?")  # an API Gateway stage name, as a path segment
# Routes that are not part of the API's contract: the docs page and its assets.
UNDESCRIBED = frozenset({"get_docs", "get_docs_asset"})


def described_routes(routes: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    """(method, route path) → route of every route the document describes: all but the
    generated HEAD/OPTIONS/405 routes and the docs page."""
    return {(method, path): route
            for path, entries in routes.items() for method, route in entries.items()
            if not route.view_name.startswith(GENERATED_PREFIX)
            and route.view_name not in UNDESCRIBED}


def negotiated_format(query: str | None, accept: str | None) -> str:
    """``?format=`` wins; else JSON when ``Accept`` prefers it to YAML; else YAML (the default)."""
    if query is not None:
        if query not in FORMATS:
            raise errors.ValidationError({"format": f'"{query}" is not a valid choice.'})
        return query
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((accept or "").split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        media = media.lower()
        fmt = "json" if media in _JSON_TYPES else "yaml" if media in _YAML_TYPES else None
        if fmt is None:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, fmt)
    return best[2] if best else "yaml"


def _base(resource_path: str, request_path: str, suffix: str) -> tuple[str, str]:
    """(API prefix of the routes, base path as the client sees it, e.g. with a stage in front).

    The base is the prefix, or the prefix behind one stage segment (``/api/api/v1`` on an
    execute-api URL); anything else a request path carries (a host, as in
    ``//evil.example/api/v1/docs``) is ignored, so it can't reach the page or the document
    (whose cache is bounded too).
    """
    prefix = resource_path[: -len(suffix)] if resource_path.endswith(suffix) else resource_path
    seen = (request_path or "").rstrip("/")
    base = seen[: -len(suffix)] if seen.endswith(suffix) else prefix
    stage = base[: -len(prefix)] if prefix and base.endswith(prefix) else None
    if stage is None or not _STAGE.fullmatch(stage):
        base = prefix
    return prefix, base


@endpoint(docs, SCHEMA_PATH, public=True)
def get_openapi(request: ApiRequest) -> Response:
    from chalicelib.schema import document

    fmt = negotiated_format(request.query("format"), request.header("accept"))
    context = docs.current_request.context
    prefix, base = _base(context.get("resourcePath", ""), context.get("path", ""), SCHEMA_PATH)
    text = document.CACHE.render(described_routes(docs.current_app.routes), prefix, base, fmt)
    return Response(body=text, status_code=200,
                    headers={"Content-Type": FORMATS[fmt], "Vary": "Accept",
                             "Cache-Control": "public, max-age=300"})


@endpoint(docs, DOCS_PATH, public=True)
def get_docs(request: ApiRequest) -> Response:
    from chalicelib.schema import docs_page

    context = docs.current_request.context
    _, base = _base(context.get("resourcePath", ""), context.get("path", ""), DOCS_PATH)
    body, headers = docs_page.page(base)
    return Response(body=body, status_code=200, headers=headers)


@endpoint(docs, DOCS_PATH + "/{asset}", public=True)
def get_docs_asset(request: ApiRequest, asset: str) -> Response:
    from chalicelib.schema import docs_page

    found = docs_page.asset(asset)
    if found is None:
        raise errors.NotFound()
    text, content_type = found
    return Response(body=text, status_code=200,
                    headers={"Content-Type": content_type,
                             "Cache-Control": docs_page.CACHE_CONTROL})
