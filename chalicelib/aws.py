"""One botocore session and one client per service, shared by every model and the queue.

PynamoDB would otherwise build a session and a client per model on first use, which
is most of a cold start's first request; one client per service also keeps one
connection pool. Every client counts its calls into the request being served
(:func:`counting_calls`), so the per-request log line can say what a request cost.
"""
from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The services the deployed functions call. ``make package`` ships botocore's models for
# these alone (chalicelib/deploy/package.py); tests/infra runs the functions from the
# package, so a call to another service fails there. (The local stack may use others.)
SERVICES: tuple[str, ...] = ("dynamodb", "sqs")

_lock = threading.Lock()
_clients: dict[str, Any] = {}

_CLIENT_CONFIG = dict(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=32,
    parameter_validation=False,
)


class CallCount:
    """The AWS operations one request (or invocation) made, in call order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.operations: list[str] = []

    def add(self, operation: str) -> None:
        with self._lock:  # a request may hand work to threads that copy its context
            self.operations.append(operation)

    def __len__(self) -> int:
        return len(self.operations)


# Per thread (the local server serves each request on its own thread) and per context.
_current_count: contextvars.ContextVar[CallCount | None] = contextvars.ContextVar(
    "temporalist_aws_calls", default=None)


@contextmanager
def counting_calls() -> Iterator[CallCount]:
    """Count the calls the shared clients make inside the block, in this thread/context."""
    count = CallCount()
    token = _current_count.set(count)
    try:
        yield count
    finally:
        _current_count.reset(token)


def _count_call(model: Any, **_: Any) -> None:
    count = _current_count.get()
    if count is not None:
        count.add(f"{model.service_model.service_name}:{model.name}")


def client(service: str) -> Any:
    """The shared botocore client for ``service``."""
    found = _clients.get(service)
    if found is not None:
        return found
    # botocore loads with the first client: importing the app (and counting calls) does not.
    import botocore.config
    import botocore.session

    from chalicelib.config import settings

    with _lock:
        if service not in _clients:
            conf = settings()
            session = _clients.get("_session") or botocore.session.get_session()
            _clients["_session"] = session
            created = session.create_client(
                service, region_name=conf.region, endpoint_url=conf.endpoint_url,
                config=botocore.config.Config(**_CLIENT_CONFIG))
            # before-call fires once per operation, whatever the retries.
            created.meta.events.register("before-call", _count_call,
                                         unique_id="temporalist-call-count")
            _clients[service] = created
        return _clients[service]


def reset_clients() -> None:
    """Drop the shared clients (after the endpoint or stage changed)."""
    with _lock:
        _clients.clear()
