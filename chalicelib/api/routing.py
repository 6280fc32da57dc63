"""How a route is declared: auth, body parsing, error formatting and 405s, in one place.

Chalice answers errors with ``{"Code", "Message"}`` bodies and checks content types
itself; both differ from the contract, so every view is registered through
:func:`endpoint`, which formats any raised error with :mod:`chalicelib.errors` and
leaves content negotiation to :meth:`ApiRequest.json`.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from chalice import Blueprint, Chalice, Response
from chalice.app import Request

from chalicelib import errors
from chalicelib.auth.authorizer import api_key_authorizer
from chalicelib.auth.caller import Caller
from chalicelib.domain import idempotency as idempotency_rules
from chalicelib.domain import pages
from chalicelib.domain.vocabulary import MAX_BODY_BYTES, MAX_LIST_BYTES
from chalicelib.lazy import LazyModule

idempotency = LazyModule("chalicelib.services.idempotency")  # only requests with a key need it

ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
ANY_CONTENT = ["*/*"]


class ApiRequest:
    """The parts of a Chalice request the views use, parsed the contract's way."""

    def __init__(self, request: Request):
        self._request = request

    @property
    def caller(self) -> Caller:
        return Caller.from_context(self._request.context.get("authorizer") or {})

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def path(self) -> str:
        """The concrete path (from the route and its parameters), the same behind any domain."""
        path = self._request.context.get("resourcePath", "")
        for name, value in (self._request.uri_params or {}).items():
            path = path.replace("{%s}" % name, value)
        return path

    @property
    def raw_body(self) -> bytes:
        return self._request.raw_body or b""

    def header(self, name: str) -> str | None:
        return self._request.headers.get(name)

    def query(self, name: str) -> str | None:
        params = self._request.query_params
        values = params.getlist(name) if params is not None and name in params else []
        return values[-1] if values else None

    def queries(self, *names: str) -> dict[str, str | None]:
        """The last value of each named query parameter (None when absent), and the page's."""
        return {name: self.query(name) for name in (*names, *pages.QUERY_PARAMETERS)}

    def url_with(self, **changed: str) -> str:
        """This request's absolute URL as the client addressed it (Host header, the path as
        received, so a stage or custom domain stays), with query parameters replaced in
        place (one value each) or added at the end."""
        params = self._request.query_params
        query = [(name, value) for name in (params or {})
                 for value in ([changed[name]] if name in changed else params.getlist(name))]
        query += [(name, value) for name, value in changed.items() if name not in (params or {})]
        scheme = (self.header("x-forwarded-proto") or "http").split(",")[0].strip()
        host = self.header("host") or "localhost"
        path = self._request.context.get("path") or self.path
        return f"{scheme}://{host}{path}?{urlencode(query)}"

    def json(self) -> Any:
        """The parsed JSON body ({} when empty), or the contract's 400/415 (SPEC section 1)."""
        content_type = (self.header("content-type") or "").strip()
        media_type, _, parameters = content_type.partition(";")
        if content_type and media_type.strip().lower() != "application/json":
            raise errors.UnsupportedMediaType(content_type)
        raw = self._request.raw_body or b""
        if not raw.strip():
            return {}
        try:
            return json.loads(_decode(raw, parameters), parse_constant=_no_constants)
        except (ValueError, LookupError, RecursionError) as exc:  # incl. bad encodings
            raise errors.ParseError(f"JSON parse error - {exc}") from exc


def _decode(raw: bytes, parameters: str) -> str | bytes:
    """The body as text in its declared charset (any, SPEC section 1); bytes when none is
    declared, which ``json`` reads as UTF-8/16/32."""
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return raw.decode(value.strip().strip('"'))
    return raw


def _no_constants(name: str) -> None:
    """Strict JSON: ``NaN`` and ``Infinity`` are not numbers in JSON."""
    raise ValueError(f"{name} is not valid JSON")


def json_response(body: Any, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    if status_code == 204:
        return Response(body="", status_code=204, headers=headers or {})
    return Response(body=errors.json_text(body), status_code=status_code,
                    headers={**errors.JSON_HEADERS, **(headers or {})})


def list_json(items: Iterable[Any]) -> str:
    """A list's JSON, given up (400, SPEC section 1) as soon as it passes 5 MiB."""
    parts: list[str] = []
    size = 2  # the brackets
    for item in items:
        part = errors.json_text(item)
        size += len(part.encode()) + (2 if parts else 0)
        if size > MAX_LIST_BYTES:
            raise pages.ListTooLarge()
        parts.append(part)
    return "[" + ", ".join(parts) + "]"


def list_response(request: ApiRequest, listed: Any, serialize: Callable[[Any], Any]) -> Response:
    """A list, or a page of it with ``Link: <next page>; rel="next"`` while more remain."""
    headers = dict(errors.JSON_HEADERS)
    if listed.next_cursor:
        # the same filters and page_size (SPEC section 7), even when this request had
        # only a cursor and so the size it was issued with
        url = request.url_with(cursor=listed.next_cursor, page_size=str(listed.page_size))
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(body=list_json(serialize(item) for item in listed.items), status_code=200,
                    headers=headers)


def error_response(exc: BaseException) -> Response:
    """The one formatter: any exception a view (or the idempotency check) raised."""
    status, headers, body = errors.error_payload(exc)
    return Response(body=body, status_code=status, headers=headers)


def endpoint(bp: Blueprint, path: str, methods: tuple[str, ...] = ("GET",), *,
             status_code: int = 200, public: bool = False) -> Callable:
    """Register ``view(request, **path_params)`` on ``bp``; its return value is the JSON body."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        def respond(request: ApiRequest, params: dict[str, str]) -> Response:
            try:
                result = view(request, **params)
            except Exception as exc:  # formatted in one place; unknown ones are logged as 500
                return error_response(exc)
            if isinstance(result, Response):
                return result
            return json_response(result, status_code)

        @functools.wraps(view)
        def handle(**params: str) -> Response:
            request = ApiRequest(bp.current_request)
            if len(request.raw_body) > MAX_BODY_BYTES:  # before anything reads or writes
                return error_response(errors.PayloadTooLarge())
            key = request.header(idempotency_rules.HEADER) if request.method == "POST" else None
            if key is None:
                return respond(request, params)
            try:
                return _run_once(request, idempotency_rules.validate_key(key),
                                 lambda: respond(request, params))
            except Exception as exc:
                return error_response(exc)

        handle.success_status = status_code  # read by the OpenAPI document
        bp.route(path, methods=list(methods), content_types=ANY_CONTENT,
                 authorizer=None if public else api_key_authorizer)(handle)
        return view

    return decorator


def _run_once(request: ApiRequest, key: str, respond: Callable[[], Response]) -> Response:
    """The first answer to (key, request), stored; the stored one for a repeat."""
    request_hash = idempotency_rules.fingerprint(request.method, request.path, request.raw_body,
                                                 request.header("content-type") or "")

    def produce():
        response = respond()
        body = response.body if isinstance(response.body, str) else errors.json_text(response.body)
        return idempotency.Answer(response.status_code, dict(response.headers), body)

    answer = idempotency.run_once(request.caller.key_id, key, request_hash, produce)
    return Response(body=answer.body, status_code=answer.status_code, headers=answer.headers)


GENERATED_PREFIX = "generated_"  # view names of the routes below (not described separately)


def install_method_routes(app: Chalice) -> None:
    """Give every known path HEAD (its GET without a body), OPTIONS and 405s.

    API Gateway answers an undeclared method like an unknown path, so each path declares
    the rest of the methods: HEAD runs the GET view (API Gateway and the local server
    send no body), OPTIONS answers 204 with ``Allow``, anything else 405 with ``Allow``
    (SPEC section 1). They carry the path's authorizer, so the key, plan and scope are
    checked first, as for every other method (SPEC section 2).
    """
    for path, entries in list(app.routes.items()):
        authorizer = next(iter(entries.values())).authorizer
        slug = path.replace("/", "_").replace("{", "").replace("}", "")

        def add(methods: list[str], kind: str, view: Callable[..., Response]) -> None:
            app.route(path, methods=methods, content_types=ANY_CONTENT, authorizer=authorizer,
                      name=f"{GENERATED_PREFIX}{kind}{slug}")(view)

        if "GET" in entries and "HEAD" not in entries:
            add(["HEAD"], "head", entries["GET"].view_function)
        allowed = [m for m in ALL_METHODS if m in app.routes[path] or m == "OPTIONS"]
        if "OPTIONS" not in entries:
            def options(_allowed: list[str] = allowed, **_params: str) -> Response:
                return Response(body="", status_code=204, headers={"Allow": ", ".join(_allowed)})
            add(["OPTIONS"], "options", options)
        missing = [m for m in ALL_METHODS if m not in app.routes[path]]
        if missing:
            def not_allowed(_allowed: list[str] = allowed, **_params: str) -> Response:
                return error_response(errors.MethodNotAllowed(app.current_request.method,
                                                              _allowed))
            add(missing, "not_allowed", not_allowed)
