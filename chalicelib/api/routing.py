"""How a route is declared: auth, body parsing, error formatting and 405s, in one place.

Chalice answers errors with ``{"Code", "Message"}`` bodies and checks content types
itself; both differ from the contract, so every view is registered through
:func:`endpoint`, which formats any raised error with :mod:`chalicelib.errors` and
leaves content negotiation to :meth:`ApiRequest.json`.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Callable

from chalice import Blueprint, Chalice, Response
from chalice.app import Request

from chalicelib import errors
from chalicelib.api import idempotency
from chalicelib.auth.authorizer import api_key_authorizer
from chalicelib.auth.caller import Caller

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

    def json(self) -> Any:
        """The parsed JSON body ({} when empty), or the contract's 400/415 (SPEC section 1)."""
        content_type = (self.header("content-type") or "").strip()
        if content_type and content_type.split(";")[0].strip().lower() != "application/json":
            raise errors.UnsupportedMediaType(content_type)
        raw = self._request.raw_body or b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.ParseError(f"JSON parse error - {exc}") from exc
        return body  # a schema checks that it is an object


def json_response(body: Any, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    if status_code == 204:
        return Response(body="", status_code=204, headers=headers or {})
    return Response(body=json.dumps(body), status_code=status_code,
                    headers={**errors.JSON_HEADERS, **(headers or {})})


def error_response(exc: BaseException) -> Response:
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
            key = request.header(idempotency.HEADER) if request.method == "POST" else None
            if key is None:
                return respond(request, params)
            try:
                key = idempotency.validate_key(key)
                request_hash = idempotency.fingerprint(request.method, request.path,
                                                       request.raw_body)
                return idempotency.run_once(request.caller.key_id, key, request_hash,
                                            lambda: respond(request, params))
            except Exception as exc:
                return error_response(exc)

        handle.success_status = status_code  # read by the OpenAPI document
        bp.route(path, methods=list(methods), content_types=ANY_CONTENT,
                 authorizer=None if public else api_key_authorizer)(handle)
        return view

    return decorator


def install_method_not_allowed(app: Chalice) -> None:
    """Give every known path a 405 (with ``Allow``) for the methods it lacks.

    API Gateway would answer an undefined method like an unknown path; declaring the
    other methods makes it reach our code, which answers as SPEC section 1 says.
    """
    for path, entries in list(app.routes.items()):
        allowed = [m for m in ALL_METHODS if m in entries]
        missing = [m for m in ALL_METHODS if m not in entries]
        if not missing:
            continue

        def not_allowed(_allowed: list[str] = allowed, **_params: str) -> Response:
            return error_response(errors.MethodNotAllowed(app.current_request.method, _allowed))

        name = "not_allowed" + path.replace("/", "_").replace("{", "").replace("}", "")
        app.route(path, methods=missing, content_types=ANY_CONTENT, name=name)(not_allowed)
