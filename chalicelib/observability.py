"""Structured logs: one JSON line per API request, shaped as Lambda's JSON log format shapes them.

On Lambda the runtime formats every record itself (the functions' ``LoggingConfig`` has
``LogFormat: JSON``): ``timestamp``, ``level``, ``message``, ``logger``, ``requestId``
(the invocation's), exception fields, and each field passed with ``logger.info(...,
extra={...})`` as a top-level key (awslambdaric ``JsonFormatter``). :class:`JsonFormatter`
here prints the same shape for the local stack and the tests, so a field that reads well
locally arrives as the same JSON key in CloudWatch, and the tests can scan exactly what
would be shipped. Extra values must be JSON types: the runtime's encoder has no fallback.

Never log a secret: the request line names a key by its public id only, and no line
carries a header, a body or a webhook target's path (tests/conftest.py scans every line
the suite produces for issued token and webhook secrets).
"""
from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from chalicelib import aws

if TYPE_CHECKING:  # only the delivery function imports the outbound module
    from chalicelib.events.outbound import PostResult

DEFAULT_LOG_LEVEL = "INFO"
REQUEST_MESSAGE = "request"

log = logging.getLogger(__name__)

# LogRecord attributes that are not ``extra`` fields (awslambdaric's reserved set).
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "aws_request_id", "tenant_id", "_frame_type"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the keys Lambda's JSON log format gives it."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def format(self, record: logging.LogRecord) -> str:
        exc_info = record.exc_info
        line: dict[str, Any] = {
            "timestamp": self.formatTime(record),
            "level": logging.getLevelName(min(50, max(0, record.levelno)) // 10 * 10),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
            "errorType": exc_info[0].__name__ if exc_info and exc_info[0] else None,
            "errorMessage": str(exc_info[1]) if exc_info else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": (f"{record.pathname}:{record.funcName}:{record.lineno}"
                         if exc_info else None),
        }
        line.update((key, value) for key, value in vars(record).items()
                    if key not in _RECORD_FIELDS and key not in line)
        return json.dumps({k: v for k, v in line.items() if v is not None}, ensure_ascii=False)


def stage_log_level(stage: str) -> str:
    """The stage's ``log_level`` in ``.chalice/config.json`` (the functions' application level)."""
    from chalicelib.config import stage_config
    return str(stage_config(stage).get("log_level") or DEFAULT_LOG_LEVEL)


def configure_logging(level: str = DEFAULT_LOG_LEVEL, stream=None) -> logging.Handler:
    """Outside Lambda: JSON lines on stdout (or ``stream``) at ``level``, as Lambda prints them."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(python_level(level))
    return handler


def python_level(level: str) -> str:
    """A Lambda log level as Python's logging names it (the runtime maps TRACE to DEBUG)."""
    return {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level.upper(),
                                                                       level.upper())


def _milliseconds(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


def log_request(request: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice HTTP middleware: the request's one line, after its response (or its failure)."""
    started = time.perf_counter()
    status = 500  # what Chalice answers when the handler raises
    with aws.counting_calls() as calls:
        try:
            response = get_response(request)
            status = response.status_code
            return response
        finally:
            context = request.context or {}
            authorizer = context.get("authorizer") or {}
            log.info(REQUEST_MESSAGE, extra={
                "method": request.method,
                "route": context.get("resourcePath"),
                "status": status,
                "duration_ms": _milliseconds(started),
                "key_id": authorizer.get("key_id"),  # the public part; the secret is never here
                "request_id": context.get("requestId"),  # API Gateway's, as in its access log
                "aws_calls": len(calls),
                "aws_operations": list(calls.operations),
            })


def install(app: Any) -> None:
    """Register the per-request line on every HTTP route of ``app``."""
    app.register_middleware(log_request, "http")


def log_delivery_attempt(*, delivery_id: str, subscription_id: str, event: str,
                         target_url: str, result: PostResult) -> None:
    """The delivery function's line per attempt: what was sent where, and the answer as
    the POST's result has it (the same status, success, time and error the delivery log
    stores).

    Only the target's host is logged: a webhook URL's path or query is often a
    capability (``/hooks/catch/<id>/<secret>``).
    """
    from urllib.parse import urlsplit
    log.info("webhook delivery", extra={
        "delivery_id": delivery_id,
        "subscription_id": subscription_id,
        "event": event,
        "target_host": urlsplit(target_url).hostname if target_url else None,
        "status": result.status,
        "outcome": "delivered" if result.succeeded else "failed",
        "duration_ms": result.duration_ms,
        "error": result.error,  # why no answer came: "timeout", "connection refused", ...
    })
