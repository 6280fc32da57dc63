"""Count the AWS calls of one request, split into the authorizer's and the handler's.

A botocore ``before-call`` hook on the shared clients sees every DynamoDB and SQS call
the code makes; a local gateway that marks when it runs the authorizer tells the two
phases apart.
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from chalicelib import aws
from chalicelib.local.gateway import LocalGateway

AUTHORIZER = "authorizer"
HANDLER = "handler"


class CallCounter:
    """Counts calls as (phase, service, operation) while :meth:`counting` is active."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.active = False

    def install(self) -> "CallCounter":
        for service in ("dynamodb", "sqs"):
            aws.client(service).meta.events.register(
                "before-call.*.*", self._on_call, unique_id=f"bench-calls-{id(self)}")
        return self

    def uninstall(self) -> None:
        for service in ("dynamodb", "sqs"):
            aws.client(service).meta.events.unregister(
                "before-call.*.*", unique_id=f"bench-calls-{id(self)}")

    @property
    def phase(self) -> str:
        return getattr(self._local, "phase", HANDLER)

    @contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        previous, self._local.phase = self.phase, phase
        try:
            yield
        finally:
            self._local.phase = previous

    def _on_call(self, model, **_: object) -> None:
        if self.active:
            with self._lock:
                self.calls[(self.phase, model.service_model.service_name, model.name)] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter]:
        """Count the calls made inside the block; yields the (filled-in) counter."""
        self.calls = Counter()
        self.active = True
        try:
            yield self.calls
        finally:
            self.active = False


class CountingGateway(LocalGateway):
    """The local gateway, telling the counter when the authorizer runs."""

    def __init__(self, app, counter: CallCounter):
        super().__init__(app)
        self.counter = counter

    def _authorize(self, *args, **kwargs):
        with self.counter.in_phase(AUTHORIZER):
            return super()._authorize(*args, **kwargs)


def summarise(calls: Counter) -> dict[str, Counter]:
    """``{"authorizer": Counter({"dynamodb.GetItem": 1}), "handler": ...}``."""
    out: dict[str, Counter] = {AUTHORIZER: Counter(), HANDLER: Counter()}
    for (phase, service, operation), n in calls.items():
        out[phase][f"{service}.{operation}"] += n
    return out
