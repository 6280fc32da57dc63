"""Store test fixtures: each test's DynamoDB calls, and threads released together.

Every test here runs against moto's server (the ``aws`` fixture) and, through the
autouse :func:`dynamodb_calls` recorder, fails if any store function Scans.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class Call:
    """One DynamoDB operation: its name, the parameters sent and the response's keys."""

    operation: str
    params: dict
    response: dict = field(default_factory=dict)


class CallRecorder:
    """Records each DynamoDB operation of the shared client (from any thread), in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = threading.local()
        self.calls: list[Call] = []

    def _before(self, model, params, **_: Any) -> None:
        self._pending.call = Call(model.name, dict(params))

    def _after(self, model, parsed, **_: Any) -> None:
        call = getattr(self._pending, "call", None)
        if call is None or call.operation != model.name:
            return
        call.response = parsed
        with self._lock:
            self.calls.append(call)
        self._pending.call = None

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def of(self, operation: str) -> list[Call]:
        return [call for call in self.calls if call.operation == operation]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


@pytest.fixture(autouse=True)
def dynamodb_calls(aws):
    """Every DynamoDB call of the test, in order; the test fails if any of them is a Scan."""
    from chalicelib import aws as aws_clients
    recorder = CallRecorder()
    events = aws_clients.client("dynamodb").meta.events
    unique = f"store-tests-{id(recorder)}"
    # before-parameter-build sees the API parameters as the code passed them (Limit, ...)
    events.register("before-parameter-build.dynamodb.*", recorder._before,
                    unique_id=f"{unique}-before")
    events.register("after-call.dynamodb.*", recorder._after, unique_id=f"{unique}-after")
    yield recorder
    events.unregister("before-parameter-build.dynamodb.*", unique_id=f"{unique}-before")
    events.unregister("after-call.dynamodb.*", unique_id=f"{unique}-after")
    scans = [call for call in recorder.calls if call.operation == "Scan"]
    assert not scans, f"a store function Scanned: {scans}"
