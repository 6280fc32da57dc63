"""Shared fixtures: an embedded moto server per test session, a fresh AWS per test, the API."""
from __future__ import annotations

import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import requests

# Every test: no secret in any log line the suite produces (tests/log_scan.py).
from tests.log_scan import no_secrets_in_logs, scanned_logs  # noqa: F401


def free_port() -> int:
    """A 127.0.0.1 port free now (nothing listens on it: a connection is refused)."""
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
    stack.bootstrap(wait=False)  # the embedded AWS makes tables ACTIVE at once
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


class StreamEvents(list):
    """The webhook events of the changes committed since it was made (or last cleared), in
    order: the tables' change streams read through the fan-out's own derivation each time
    the list is looked at."""

    def __init__(self) -> None:
        super().__init__()
        from chalicelib.local.stream_poller import StreamPoller
        self._poller = StreamPoller(self._record)

    def _record(self, lambda_event: dict, _context: object) -> dict:
        from chalicelib.events import fanout
        for record in lambda_event["Records"]:
            found = fanout.event_of(record)
            if found is not None:
                list.append(self, fanout.published(*found))
        return {"batchItemFailures": []}

    def refresh(self) -> "StreamEvents":
        self._poller.drain()
        return self

    def __iter__(self):
        return list.__iter__(self.refresh())

    def __len__(self) -> int:
        return list.__len__(self.refresh())

    def __getitem__(self, index):
        return list.__getitem__(self.refresh(), index)

    def __eq__(self, other: object) -> bool:
        return list(self) == other

    def __repr__(self) -> str:
        return f"StreamEvents({list(self)!r})"

    def clear(self) -> None:
        list.clear(self.refresh())


@pytest.fixture
def events(aws) -> StreamEvents:
    """The webhook events (``event``, ``data``, ``audience``, ``occurred_at``) of every change
    committed from now on, as the fan-out derives them from the change streams."""
    recorded = StreamEvents()
    recorded.clear()  # what fixtures made before this one is not the test's
    return recorded


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


@pytest.fixture
def all_at_once() -> Callable[[list[Callable[[], Any]]], list[Any]]:
    """Run the calls in real threads released together by a barrier; results in call order."""
    def run_all(calls: list[Callable[[], Any]]) -> list[Any]:
        barrier = threading.Barrier(len(calls))

        def run(call: Callable[[], Any]) -> Any:
            barrier.wait()
            return call()

        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(run, calls))

    return run_all
