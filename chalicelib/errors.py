"""API errors as classes: the one place that maps a failure to its HTTP status and body.

Modelled on Django REST Framework's ``exceptions.py``: each error carries its status and
a default detail; :func:`error_payload` formats every one of them the same way. Services
raise these (chained with ``raise ... from exc``); the store raises its own errors, never
these; nothing below the routes builds a response.
"""
from __future__ import annotations

import json
import logging
from typing import Mapping, Sequence

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}


class ApiError(Exception):
    """Base class: a failure the client caused or may see, with its HTTP status."""

    status_code = 500
    default_detail = "Internal server error."

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        self.detail = detail if detail is not None else self.default_detail
        self.headers = dict(headers or {})
        super().__init__(self.detail)

    def body(self) -> object:
        return {"detail": self.detail}


class ValidationError(ApiError):
    """400 with a body keyed by field name: ``{"field": ["message", ...]}``."""

    status_code = 400

    def __init__(self, errors: Mapping[str, Sequence[str] | str]):
        self.errors = {field: [msgs] if isinstance(msgs, str) else list(msgs)
                       for field, msgs in errors.items()}
        super().__init__(json.dumps(self.errors))

    def body(self) -> object:
        return self.errors


class BadRequest(ApiError):
    """400 with a ``detail`` body: a request that is well-formed but not allowed now."""

    status_code = 400
    default_detail = "Bad request."


class ParseError(BadRequest):
    """400: the body is not valid JSON."""

    default_detail = "Malformed request."


class NotAuthenticated(ApiError):
    status_code = 401
    default_detail = "Invalid or missing API key."


class PermissionDenied(ApiError):
    status_code = 403
    default_detail = "You do not have permission to perform this action."


class NotFound(ApiError):
    status_code = 404
    default_detail = "Not found."


class MethodNotAllowed(ApiError):
    status_code = 405

    def __init__(self, method: str, allowed: Sequence[str]):
        super().__init__(f'Method "{method}" not allowed.',
                         headers={"Allow": ", ".join(allowed)})


class Conflict(ApiError):
    status_code = 409
    default_detail = "Conflict."


class PayloadTooLarge(ApiError):
    """413: a request body over 1 MiB (SPEC section 1), refused before anything is read."""

    status_code = 413
    default_detail = "Request body is too large."


class Throttled(ApiError):
    """429: API Gateway's stage limits (its THROTTLED response; our code never throttles)."""

    status_code = 429
    default_detail = "Request was throttled."
    RETRY_AFTER_SECONDS = 1  # the gateway response's Retry-After (SPEC section 7)


class ServiceBusy(ApiError):
    """503: a write kept losing races with concurrent writes (e.g. many invoices numbered in
    one organisation's month at once); nothing was changed and a retry will succeed."""

    status_code = 503
    default_detail = "Too many concurrent changes; retry shortly."
    RETRY_AFTER_SECONDS = 1

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)})


class UnsupportedMediaType(ApiError):
    status_code = 415

    def __init__(self, content_type: str):
        super().__init__(f'Unsupported media type "{content_type}" in request.')


class InternalError(ApiError):
    """500: never shows the cause to the client; the cause is logged."""


def json_text(body: object) -> str:
    """JSON as the API writes it: UTF-8, non-ASCII as itself (SPEC section 1). A lone
    surrogate (which JSON text may carry but UTF-8 cannot) stays a ``\\uXXXX`` escape."""
    text = json.dumps(body, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def error_payload(exc: BaseException) -> tuple[int, dict[str, str], str]:
    """Status, headers and JSON body for any exception a view raised.

    Unknown exceptions become a bare 500 and are logged with their traceback.
    """
    if not isinstance(exc, ApiError):
        log.error("unhandled error", exc_info=exc)
        exc = InternalError()
    headers = {**JSON_HEADERS, **exc.headers}
    return exc.status_code, headers, json_text(exc.body())
