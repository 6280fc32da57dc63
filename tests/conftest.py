"""Shared fixtures: an embedded moto server per test session, a fresh AWS per test, the API."""
from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

import pytest
import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def aws_endpoint():
    """moto's server on a free 127.0.0.1 port, with the environment pointing at it."""
    from chalicelib.local import stack
    port = free_port()
    os.environ.pop("TEMPORALIST_WEBHOOK_QUEUE_URL", None)
    endpoint = stack.configure_environment(port)
    server = stack.start_embedded_aws(port)
    yield endpoint
    server.stop()


@pytest.fixture
def aws(aws_endpoint):
    """An empty AWS with the stage's tables and queues."""
    from chalicelib.local import stack
    requests.post(f"{aws_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    stack.bootstrap()
    return aws_endpoint


@dataclass
class Account:
    organisation_id: int | None
    user_id: int
    key_id: str
    token: str


@pytest.fixture
def make_account(aws):
    """Create an organisation (or none), a user and a key; returns an Account."""
    from chalicelib.services import accounts

    def make(organisation: str | None = "Dunder Mifflin", *, organisation_id: int | None = None,
             plan: str = "pro", scope: str = "write", email: str = "user@example.com") -> Account:
        if organisation_id is None and organisation is not None:
            organisation_id = int(accounts.create_organisation(organisation).id)
        user = accounts.create_user(email, organisation_id, plan)
        key, token = accounts.create_key(int(user.id), "Test key", scope)
        return Account(organisation_id, int(user.id), key.key_id, token)

    return make


@pytest.fixture
def account(make_account) -> Account:
    """A Pro user in "Dunder Mifflin" with a write key."""
    return make_account()


@dataclass
class ApiResponse:
    status_code: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def header(self, name: str) -> str | None:
        return {k.lower(): v for k, v in self.headers.items()}.get(name.lower())


class ApiClient:
    """Calls the app through the local gateway, as an integrator would over HTTP."""

    def __init__(self, gateway, token: str | None = None):
        self.gateway = gateway
        self.token = token

    def as_(self, token: str | None) -> "ApiClient":
        return ApiClient(self.gateway, token)

    def request(self, method: str, path: str, json_body: Any = None, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> ApiResponse:
        sent = {}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        url = path if path.startswith("/api/") else "/api/v1" + path
        result = self.gateway.handle(method, url, sent, body)
        return ApiResponse(result.status_code, result.headers, result.body.decode())

    def get(self, path: str, **kw) -> ApiResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, json_body: Any = None, **kw) -> ApiResponse:
        return self.request("POST", path, json_body, **kw)

    def patch(self, path: str, json_body: Any = None, **kw) -> ApiResponse:
        return self.request("PATCH", path, json_body, **kw)

    def delete(self, path: str, **kw) -> ApiResponse:
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="session")
def gateway(aws_endpoint):
    """The local gateway in front of the app (the same one ``make run`` serves)."""
    from app import app
    from chalicelib.local.gateway import LocalGateway
    return LocalGateway(app)


@pytest.fixture
def api(gateway, account) -> ApiClient:
    """A client holding the default account's write key."""
    return ApiClient(gateway, account.token)


@pytest.fixture
def anonymous(gateway, aws) -> ApiClient:
    """A client without a key."""
    return ApiClient(gateway)


@pytest.fixture
def events():
    """Every change the services emit during the test, from any thread, in order."""
    from chalicelib.events import bus
    recorded: list = []
    lock = threading.Lock()

    def record(change) -> None:
        with lock:
            recorded.append(change)

    bus.add_publisher(record)
    yield recorded
    bus.remove_publisher(record)


@pytest.fixture
def colleague(gateway, make_account, account) -> ApiClient:
    """Another user of the default account's organisation (not in any team)."""
    return ApiClient(gateway, make_account(organisation_id=account.organisation_id,
                                           email="dwight@example.com").token)


@pytest.fixture
def outsider(gateway, make_account) -> ApiClient:
    """A user of another organisation."""
    return ApiClient(gateway, make_account("Initech", email="peter@initech.example").token)


@pytest.fixture
def solo(gateway, make_account) -> ApiClient:
    """A Pro user with a write key but no organisation."""
    return ApiClient(gateway, make_account(None, email="solo@example.com").token)
