"""One botocore session and one client per service, shared by every model and the queue.

PynamoDB would otherwise build a session and a client per model on first use, which
is most of a cold start's first request; one client per service also keeps one
connection pool.
"""
from __future__ import annotations

import threading
from typing import Any

import botocore.config
import botocore.session

from chalicelib.config import settings

_lock = threading.Lock()
_clients: dict[str, Any] = {}

_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=32,
    parameter_validation=False,
)


def client(service: str) -> Any:
    """The shared botocore client for ``service`` ("dynamodb" or "sqs")."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            conf = settings()
            session = _clients.get("_session") or botocore.session.get_session()
            _clients["_session"] = session
            _clients[service] = session.create_client(
                service, region_name=conf.region, endpoint_url=conf.endpoint_url,
                config=_CLIENT_CONFIG)
        return _clients[service]


def reset_clients() -> None:
    """Drop the shared clients (after the endpoint or stage changed)."""
    with _lock:
        _clients.clear()
