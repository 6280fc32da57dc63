"""The docs page: Swagger UI, its JavaScript and CSS served by the API itself (works offline).

The assets are the dist files of the pinned ``swagger-ui-py`` package (Swagger UI 5,
which reads OpenAPI 3.1), not a copy in this repository: upgrading is a pin change. Only
the two files the page links are served, looked up by exact name in that directory's
listing, so no request can reach another file. They are text, which
Chalice and API Gateway pass through as is (binary types would need base64 and an
``Accept`` header that matches); the page links no images and sets an empty favicon.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib.util
import json
from pathlib import Path

DIST_PACKAGE = "swagger_ui"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
CACHE_CONTROL = "public, max-age=86400"


@functools.lru_cache(maxsize=1)
def dist_dir() -> Path:
    """Swagger UI's dist directory inside the package (found without importing it)."""
    spec = importlib.util.find_spec(DIST_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {DIST_PACKAGE} package (swagger-ui-py) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# The two dist files the page links (the bundle carries all of Swagger UI's scripts). Only
# these are served, and `make package` ships only these of the dist directory.
PAGE_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js")


@functools.lru_cache(maxsize=1)
def asset_names() -> frozenset[str]:
    """The files that may be served: the page's script and stylesheet."""
    return frozenset(p.name for p in dist_dir().iterdir()
                     if p.is_file() and p.name in PAGE_ASSETS and p.suffix in CONTENT_TYPES)


@functools.lru_cache(maxsize=8)
def asset(name: str) -> tuple[str, str] | None:
    """(text, content type) of an asset, or None when ``name`` is not one of them."""
    if name not in asset_names():
        return None
    path = dist_dir() / name
    return path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix]


def _initializer(base: str) -> str:
    config = {
        "url": f"{base}/openapi.json?format=json",
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "persistAuthorization": True,  # a pasted key survives a reload
        "displayOperationId": True,
        "displayRequestDuration": True,
        "validatorUrl": None,  # never call an online validator
        "docExpansion": "list",
    }
    text = json.dumps(config).replace("<", "\\u003c")  # nothing can close the <script>
    return f"window.ui = SwaggerUIBundle({text});"


def page(base: str) -> tuple[str, dict[str, str]]:
    """The HTML page for an API whose base path is ``base`` (e.g. ``/api/v1``), and its headers."""
    script = _initializer(base)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    href = html.escape(base, quote=True)
    body = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Temporal.ist API v1 - reference</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{href}/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{href}/docs/swagger-ui-bundle.js"></script>
  <script>{script}</script>
</body>
</html>
"""
    csp = ("default-src 'none'; "
           f"script-src 'self' 'sha256-{digest}'; "
           "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
           "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": csp,
               "Cache-Control": "no-cache"}
    return body, headers
