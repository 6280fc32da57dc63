"""Every documented operation, ready to run against a prepared organisation, with its call budget.

The budgets are the handler's DynamoDB calls: a write request costs its reads plus its
write, and no request queries subscribers (events are fanned out from the tables' change
streams by their own function, measured apart); only ping and redeliver, requests to
send, call SQS (one SendMessage each, beside their budget). The authorizer always
makes one ``GetItem``. Preparing an operation (a running session to close, an invoice
to pay) happens before counting starts. They are the minimum each response's data
needs (DESIGN section 6); the bench reports against them and ``tests/bench`` fails when
a count rises above one.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

AUTHORIZER_BUDGET = 1


@dataclass
class World:
    """Ids of one organisation's resources that the operations act on."""

    api: Any  # an ApiClient-like object: get/post/patch/delete(path, body)
    client_id: str = ""
    project_id: str = ""
    session_id: str = ""
    invoice_id: str = ""
    webhook_id: str = ""
    attempt_id: str = ""

    @classmethod
    def build(cls, api) -> "World":
        world = cls(api)
        world.client_id = api.post("/clients/", {"name": "Globex Corp", "hourly_rate": "150.00"}).json()["id"]
        world.project_id = api.post("/projects/", {"name": "Website redesign", "hourly_rate": "120.00",
                                                   "client_id": world.client_id}).json()["id"]
        world.session_id = api.post("/sessions/", {
            "project_id": world.project_id, "start_time": "2026-06-02T09:00:00Z",
            "end_time": "2026-06-02T14:00:00Z"}).json()["id"]
        world.invoice_id = api.post("/invoices/", invoice_body(world)).json()["id"]
        world.running_session()  # so that the running list has something to name
        # A subscriber to invoice.paid: mark_paid shows what a delivery adds (one SQS call).
        world.webhook_id = world.subscription("invoice.paid")
        world.attempt_id = world.logged_attempt()
        return world

    def running_session(self) -> str:
        return self.api.post("/sessions/", {"project_id": self.project_id}).json()["id"]

    def fresh_invoice(self) -> str:
        return self.api.post("/invoices/", invoice_body(self)).json()["id"]

    def logged_attempt(self) -> str:
        """An attempt in the world's subscription's delivery log (written as the delivery
        function writes one: only a delivery makes attempts)."""
        import uuid
        from datetime import datetime, timezone

        from chalicelib.store import deliveries
        return deliveries.record(deliveries.Attempt(
            subscription_id=self.webhook_id, delivery_id=str(uuid.uuid4()),
            event="invoice.paid", attempted_at=datetime.now(timezone.utc),
            request_headers={"Content-Type": "application/json"},
            request_body=b'{"event":"invoice.paid"}', status_code=None, duration_ms=1,
            succeeded=False, error="connection refused", response_headers=None,
            response_body=None)).id

    def subscription(self, event: str = "invoice.paid") -> str:
        return self.api.post("/webhooks/", {"event": event,
                                            "target_url": "http://127.0.0.1:9/unused"}).json()["id"]


def invoice_body(world: World) -> dict:
    return {"client_id": world.client_id, "period_start": "2026-06-01",
            "period_end": "2026-06-30", "tax_rate": "21.00"}


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    budget: int
    request: Callable[[World], tuple[str, dict | None]]
    why: str = ""


def _fixed(path: str, body: dict | None = None) -> Callable[[World], tuple[str, dict | None]]:
    return lambda w: (path.format(w=w), body)


def _changing(path: str, name: str, values: tuple) -> Callable[[World], tuple[str, dict]]:
    """A PATCH that changes the resource each time it runs, as a client's would (the next of
    ``values`` in turn): repeating the same body would measure a write that changes nothing,
    which writes no index entry."""
    turns = itertools.cycle(values)
    return lambda w: (path.format(w=w), {name: next(turns)})


def _next_page(path: str) -> Callable[[World], tuple[str, dict | None]]:
    """The second page of a list: its first page is read (uncounted) for the Link."""
    def request(world: World) -> tuple[str, dict | None]:
        link = world.api.get(path.format(w=world)).header("Link")
        assert link, f"{path} has no second page"
        return link[1:link.index(">")].split("/api/v1", 1)[1], None
    return request


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET /me/", "GET", 0, _fixed("/me/"), "all from the authorizer's context"),
    Operation("GET /projects/", "GET", 1, _fixed("/projects/"), "Query by owner (+1 per team)"),
    Operation("POST /projects/", "POST", 1, _fixed("/projects/", {"name": "Bench"}),
              "PutItem"),
    Operation("GET /projects/{id}/", "GET", 1, _fixed("/projects/{w.project_id}/")),
    Operation("PATCH /projects/{id}/", "PATCH", 2,
              _changing("/projects/{w.project_id}/", "hourly_rate", ("125.00", "120.00")),
              "GetItem, UpdateItem"),
    Operation("GET /sessions/", "GET", 3, _fixed("/sessions/"),
              "Query of the running and of the closed index, BatchGetItem of project names"),
    Operation("GET /sessions/?active=true", "GET", 2, _fixed("/sessions/?active=true"),
              "Query of the sparse running index, BatchGetItem of names"),
    Operation("GET /sessions/?page_size=1", "GET", 3, _fixed("/sessions/?page_size=1"),
              "one Query page (Limit 2) of each index, BatchGetItem of names"),
    Operation("GET /sessions/?page_size=1&cursor=…", "GET", 3,
              _next_page("/sessions/?page_size=1"),
              "one Query page of each index not yet done from the cursor's position, "
              "BatchGetItem of names"),
    Operation("GET /sessions/?project_id=…&started_after=…", "GET", 3,
              _fixed("/sessions/?project_id={w.project_id}&started_after=2026-06-01T00:00:00Z"),
              "Query of the project's running and closed indexes with a start-time range, "
              "BatchGetItem of names"),
    Operation("GET /sessions/?active=false", "GET", 2, _fixed("/sessions/?active=false"),
              "Query of the closed index, BatchGetItem of names"),
    Operation("POST /sessions/", "POST", 2,
              lambda w: ("/sessions/", {"project_id": w.project_id}),
              "GetItem project, PutItem"),
    Operation("GET /sessions/{id}/", "GET", 2, _fixed("/sessions/{w.session_id}/"),
              "GetItem session, GetItem of the project's current name"),
    Operation("PATCH /sessions/{id}/", "PATCH", 3,
              _changing("/sessions/{w.session_id}/", "description", ("amended", "amended again")),
              "GetItem, conditional UpdateItem, BatchGetItem of the project's name"),
    Operation("POST /sessions/{id}/close/", "POST", 2,
              lambda w: (f"/sessions/{w.running_session()}/close/", None),
              "conditional UpdateItem, project span write (returns the name)"),
    Operation("DELETE /sessions/{id}/", "DELETE", 1,
              lambda w: (f"/sessions/{w.running_session()}/", None), "conditional DeleteItem"),
    Operation("GET /clients/", "GET", 1, _fixed("/clients/")),
    Operation("POST /clients/", "POST", 1, _fixed("/clients/", {"name": "Initech"})),
    Operation("GET /clients/{id}/", "GET", 1, _fixed("/clients/{w.client_id}/")),
    Operation("PATCH /clients/{id}/", "PATCH", 2,
              _changing("/clients/{w.client_id}/", "company", ("Globex", "Globex Corporation")),
              "GetItem, UpdateItem"),
    Operation("GET /invoices/", "GET", 1, _fixed("/invoices/")),
    Operation("GET /invoices/?status=draft&page_size=10", "GET", 1,
              _fixed("/invoices/?status=draft&page_size=10"),
              "one Query page of the organisation+status index"),
    Operation("POST /invoices/", "POST", 7, lambda w: ("/invoices/", invoice_body(w)),
              "client, projects Query, 1 sessions Query per project, organisation, the lines' "
              "BatchWriteItem (1 per 25 lines), counter, TransactWriteItems"),
    Operation("GET /invoices/{id}/", "GET", 1, _fixed("/invoices/{w.invoice_id}/")),
    Operation("GET /invoices/{id}/line_items/", "GET", 1,
              _fixed("/invoices/{w.invoice_id}/line_items/")),
    Operation("POST /invoices/{id}/send/", "POST", 1,
              lambda w: (f"/invoices/{w.fresh_invoice()}/send/", None), "conditional UpdateItem"),
    Operation("POST /invoices/{id}/mark_paid/", "POST", 1,
              lambda w: (f"/invoices/{w.fresh_invoice()}/mark_paid/", None),
              "conditional UpdateItem"),
    Operation("GET /webhooks/", "GET", 1, _fixed("/webhooks/")),
    Operation("POST /webhooks/", "POST", 1,
              _fixed("/webhooks/", {"event": "invoice.paid",
                                    "target_url": "http://127.0.0.1:9/x"})),
    Operation("GET /webhooks/{id}/", "GET", 1, _fixed("/webhooks/{w.webhook_id}/")),
    Operation("DELETE /webhooks/{id}/", "DELETE", 1,
              lambda w: (f"/webhooks/{w.subscription()}/", None),
              "conditional DeleteItem"),
    Operation("POST /webhooks/{id}/rotate_secret/", "POST", 1,
              _fixed("/webhooks/{w.webhook_id}/rotate_secret/", {"overlap_seconds": 3600}),
              "conditional UpdateItem answering the new item"),
    Operation("POST /webhooks/{id}/ping/", "POST", 1, _fixed("/webhooks/{w.webhook_id}/ping/"),
              "GetItem of the subscription; + 1 SQS SendMessage"),
    Operation("GET /webhooks/{id}/deliveries/", "GET", 2,
              _fixed("/webhooks/{w.webhook_id}/deliveries/"),
              "GetItem of the subscription, Query of its log's index"),
    Operation("GET /webhooks/{id}/deliveries/{attempt_id}/", "GET", 1,
              _fixed("/webhooks/{w.webhook_id}/deliveries/{w.attempt_id}/"),
              "BatchGetItem of the subscription and the attempt"),
    Operation("POST /webhooks/{id}/deliveries/{attempt_id}/redeliver/", "POST", 1,
              _fixed("/webhooks/{w.webhook_id}/deliveries/{w.attempt_id}/redeliver/"),
              "BatchGetItem of the subscription and the attempt; + 1 SQS SendMessage"),
)
