"""Webhook fan-out and delivery end to end in one process: API call → SQS → handler → receiver.

Events are caused through the local gateway, queued on the (moto) SQS queue by the
fan-out, and delivered by ``poll_once(deliver_webhooks)`` -- the same poller ``make run``
uses and the same handler Lambda runs -- to a real HTTP server on 127.0.0.1 that each
test starts and stops. The local stage allows ``http://`` and loopback targets.
No real DNS is used: targets are IP literals, or names answered by an injected resolver.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import http.server
import inspect
import json
import re
import socket
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from email.message import Message

import pytest

from app import deliver_webhooks, fan_out_events
from chalicelib import aws as aws_clients
from chalicelib.config import settings
from chalicelib.events import delivery, outbound
from chalicelib.events.delivery import Deliverer
from chalicelib.local import poller
from chalicelib.local.poller import lambda_event, poll_once
from chalicelib.local.stream_poller import StreamPoller
from chalicelib.services import accounts
from chalicelib.store.webhooks import Subscription
from tests.conftest import ApiClient, free_port


# Copied verbatim from api-reference.txt, "Verifying signatures".
import hmac, hashlib

def verify(secret: str, signature_header: str, raw_body: bytes) -> bool:
    # signature_header looks like: "t=1781434200,v1=5257a869e6…"
    parts = dict(p.split("=", 1) for p in signature_header.split(","))
    timestamp, given = parts["t"], parts["v1"]
    signed = f"{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


EVENTS = ["project.created", "session.created", "session.closed", "invoice.created",
          "invoice.paid"]
ENVELOPE_KEYS = {"event", "delivery_id", "occurred_at", "data"}
SESSION_KEYS = {"uuid", "project_uuid", "project_name", "start_time", "end_time", "description",
                "started_via"}
PROJECT_KEYS = {"uuid", "name", "is_active", "currency", "hourly_rate", "client_uuid"}
INVOICE_KEYS = {"uuid", "invoice_number", "client_uuid", "status", "subtotal", "tax_rate",
                "tax_amount", "total", "currency", "period_start", "period_end", "due_date",
                "paid_date"}
DATA_KEYS = {"project.created": PROJECT_KEYS, "session.created": SESSION_KEYS,
             "session.closed": SESSION_KEYS, "invoice.created": INVOICE_KEYS,
             "invoice.paid": INVOICE_KEYS}
# Deliveries of committed changes: version 5, derived from (stream record, subscription).
UUID5 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SIGNATURE = re.compile(r"t=(\d+),v1=([0-9a-f]{64})")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


# --- a real receiver on 127.0.0.1 ------------------------------------------------------

@dataclass
class Seen:
    method: str
    path: str
    headers: Message
    body: bytes


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):  # HTTPServer's would look up this machine's FQDN
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Receiver:
    """A webhook receiver on 127.0.0.1 recording every request and every connection.

    ``answers[path]`` picks the reply: a status code (default 200; a 3xx carries a
    ``Location`` to ``/redirected``), ``"hang"`` (read the request, never answer) or
    ``"loud"`` (200 with 60 headers of 1,000 bytes, more than http.client reads, and a
    100 KB body).
    """

    def __init__(self):
        self.requests: list[Seen] = []
        self.answers: dict[str, int | str] = {}
        self.connections = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, self.headers, self.rfile.read(length))
                with receiver.lock:
                    receiver.requests.append(seen)
                return receiver.answers.get(self.path.split("?")[0], 200)

            def do_POST(self):
                answer = self._record()
                if answer == "hang":
                    receiver.stop.wait(10)  # far past the client's timeout; ends at teardown
                    self.close_connection = True
                    return
                if answer == "loud":
                    body = "é".encode() * 50_000
                    self.send_response(200)
                    for n in range(60):
                        self.send_header(f"X-Filler-{n:02d}", "v" * 990)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/redirected")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_PUT = do_POST  # a followed redirect would show up here too

        class Server(_Server):
            def verify_request(self, request, client_address):
                with receiver.lock:
                    receiver.connections += 1
                return True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def paths(self) -> list[str]:
        with self.lock:
            return sorted(r.path for r in self.requests)

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def closed_port():
    """A 127.0.0.1 port nothing listens on (connections are refused)."""
    return free_port()


# --- the queue and the poller --------------------------------------------------------------

def sqs():
    return aws_clients.client("sqs")


def queue_url() -> str:
    return settings().webhook_queue_url


_STREAMS: list[StreamPoller] = []


def fan_out() -> int:
    """Hand the committed changes to the fan-out function, as its stream event source does
    (one reader for the whole module: each test's tables, and so streams, are new)."""
    if not _STREAMS:
        _STREAMS.append(StreamPoller(fan_out_events))
    return _STREAMS[0].drain()


def queue_counts(fanned_out: bool = True) -> tuple[int, int]:
    """(visible, in flight) messages on the webhook queue, once the changes are fanned out
    (by this module's reader, unless ``fanned_out`` is False)."""
    if fanned_out:
        fan_out()
    attributes = sqs().get_queue_attributes(QueueUrl=queue_url(), AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def receive_all(fanned_out: bool = True) -> list[dict]:
    """Fan out the committed changes (unless ``fanned_out`` is False), then take every
    visible message off the queue (they stay in flight, undeleted)."""
    if fanned_out:
        fan_out()
    taken: list[dict] = []
    for _ in range(50):
        batch = sqs().receive_message(QueueUrl=queue_url(), MaxNumberOfMessages=10,
                                      WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return taken
        taken.extend(batch)
    raise AssertionError("the queue did not run dry")


@pytest.fixture
def drain(aws, monkeypatch):
    """Fan out the committed changes, then run ``poll_once(handler)`` until the queue is
    empty; returns how many messages were handled."""
    monkeypatch.setattr(poller, "WAIT_SECONDS", 0)  # short polls: an empty queue ends at once

    def run(handler=deliver_webhooks, limit: int = 50) -> int:
        fan_out()
        return deliver_until_empty(handler, limit)

    return run


def deliver_until_empty(handler=deliver_webhooks, limit: int = 50) -> int:
    """``poll_once(handler)`` until the webhook queue is empty; how many messages it handled."""
    handled = 0
    for _ in range(limit):
        count = poll_once(handler)
        if count == 0:
            return handled
        handled += count
    raise AssertionError("the webhook queue was not drained")


@pytest.fixture
def deliverer(monkeypatch):
    """Make the real handler build its ``Deliverer`` with these overrides (e.g. a timeout)."""
    def use(**overrides):
        monkeypatch.setattr(delivery, "Deliverer", functools.partial(Deliverer, **overrides))
    return use


@pytest.fixture
def production_rules(monkeypatch):
    """Deliver as a non-local stage does: no http:// and no loopback targets."""
    strict = replace(settings(), allow_insecure_webhooks=False)
    monkeypatch.setattr(delivery, "settings", lambda: strict)


# --- accounts and API helpers ----------------------------------------------------------

@pytest.fixture
def mate(gateway, make_account, account) -> ApiClient:
    """Another Pro user of the default account's organisation."""
    return ApiClient(gateway, make_account(organisation_id=account.organisation_id,
                                           email="dwight@dundermifflin.example").token)


@pytest.fixture
def stranger(gateway, make_account) -> ApiClient:
    """A Pro user of another organisation."""
    return ApiClient(gateway, make_account("Initech", email="peter@initech.example").token)


@pytest.fixture
def second_key(gateway, account) -> tuple[str, ApiClient]:
    """Another write key of the default account's user: (key id, client)."""
    key, token = accounts.create_key(account.user_id, "Second key", "write")
    return key.key_id, ApiClient(gateway, token)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def subscribe(client: ApiClient, event: str, url: str) -> dict:
    return ok(client.post("/webhooks/", {"event": event, "target_url": url}), 201)


def subscription(client: ApiClient, sid: str) -> dict:
    return ok(client.get(f"/webhooks/{sid}/"))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def start_session(client: ApiClient, project_id: str | None = None, **extra) -> dict:
    if project_id is None:
        project_id = ok(client.post("/projects/", {"name": "Website redesign"}), 201)["id"]
    return ok(client.post("/sessions/", {"project_id": project_id, **extra}), 201)


def close(client: ApiClient, session_id: str) -> dict:
    return ok(client.post(f"/sessions/{session_id}/close/"))


def billable_invoice(client: ApiClient) -> tuple[dict, dict, dict]:
    """A client, a project linked to it and a closed session; then an invoice over today."""
    billed = ok(client.post("/clients/", {"name": "Globex Corp", "hourly_rate": "150.00"}), 201)
    project = ok(client.post("/projects/", {"name": "Globex site", "client_id": billed["id"],
                                            "hourly_rate": "120.00"}), 201)
    session = start_session(client, project["id"],
                            start_time=iso(datetime.now(timezone.utc) - timedelta(hours=1)))
    close(client, session["id"])
    today = datetime.now(timezone.utc).date()
    invoice = ok(client.post("/invoices/", {
        "client_id": billed["id"], "period_start": (today - timedelta(days=1)).isoformat(),
        "period_end": today.isoformat(), "tax_rate": "21.00"}), 201)
    return billed, project, invoice


def assert_recent(moment: datetime, seconds: float = 30):
    assert abs(datetime.now(timezone.utc) - moment) < timedelta(seconds=seconds)


# --- the five events reach a real receiver, signed ------------------------------------------

@pytest.fixture
def five_events(api, receiver, drain):
    """One subscription per event (path ``/<event>``), each event caused once, all delivered."""
    subs = {event: subscribe(api, event, receiver.url(f"/{event}")) for event in EVENTS}
    billed = ok(api.post("/clients/", {"name": "Globex Corp", "currency": "eur"}), 201)
    project = ok(api.post("/projects/", {"name": "Website redesign", "client_id": billed["id"],
                                         "hourly_rate": "120.00"}), 201)
    started = start_session(api, project["id"], description="Café ☕ \"quoted\"",
                            start_time=iso(datetime.now(timezone.utc) - timedelta(hours=2)))
    closed = close(api, started["id"])
    today = datetime.now(timezone.utc).date()
    invoice = ok(api.post("/invoices/", {
        "client_id": billed["id"], "period_start": (today - timedelta(days=1)).isoformat(),
        "period_end": today.isoformat(), "tax_rate": "21.00"}), 201)
    paid = ok(api.post(f"/invoices/{invoice['id']}/mark_paid/"))
    assert receiver.requests == []  # nothing is delivered by the API requests themselves
    assert drain() == 5
    return {"subs": subs, "client": billed, "project": project, "started": started,
            "closed": closed, "invoice": invoice, "paid": paid}


@pytest.mark.parametrize("event", EVENTS)
def test_each_event_reaches_the_receiver_and_verifies(five_events, receiver, event):
    [seen] = receiver.at(f"/{event}")
    assert seen.method == "POST"
    secret = five_events["subs"][event]["secret"]
    header = seen.headers["X-Temporalist-Signature"]
    assert verify(secret, header, seen.body) is True
    for index in (0, len(seen.body) // 2, len(seen.body) - 1):
        tampered = bytearray(seen.body)
        tampered[index] ^= 0x01
        assert verify(secret, header, bytes(tampered)) is False
    assert verify("0" * 64, header, seen.body) is False
    assert json.loads(seen.body)["event"] == event


def test_every_event_is_delivered_once_and_only_to_its_subscription(five_events, receiver):
    assert receiver.paths() == sorted(f"/{event}" for event in EVENTS)


@pytest.mark.parametrize("event", EVENTS)
def test_envelope_and_headers(five_events, receiver, event):
    [seen] = receiver.at(f"/{event}")
    envelope = json.loads(seen.body)
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["event"] == event
    assert UUID5.fullmatch(envelope["delivery_id"])
    assert type(envelope["occurred_at"]) is int
    assert_recent(datetime.fromtimestamp(envelope["occurred_at"], timezone.utc), seconds=3 * 3600)
    assert set(envelope["data"]) == DATA_KEYS[event]

    headers = seen.headers
    assert headers.get_all("Content-Type") == ["application/json"]
    assert headers.get_all("User-Agent") == ["Temporalist-Webhook/1.0"]
    assert headers.get_all("X-Temporalist-Event") == [event]
    assert headers.get_all("X-Temporalist-Delivery") == [envelope["delivery_id"]]
    [signature] = headers.get_all("X-Temporalist-Signature")
    match = SIGNATURE.fullmatch(signature)
    assert match, signature
    assert_recent(datetime.fromtimestamp(int(match.group(1)), timezone.utc))
    assert headers["Content-Length"] == str(len(seen.body))


def test_session_data(five_events, receiver):
    started, closed = five_events["started"], five_events["closed"]
    created = json.loads(receiver.at("/session.created")[0].body)
    ended = json.loads(receiver.at("/session.closed")[0].body)
    common = {"uuid": started["id"], "project_uuid": five_events["project"]["id"],
              "project_name": "Website redesign",
              "start_time": started["start_time"].replace("Z", "+00:00"),
              "description": "Café ☕ \"quoted\"", "started_via": "api"}
    assert created["data"] == {**common, "end_time": None}
    assert ended["data"] == {**common, "end_time": closed["end_time"].replace("Z", "+00:00")}
    # the change's own time: the close is when the session ended
    assert ended["occurred_at"] == int(parse(closed["end_time"]).timestamp())
    assert_recent(datetime.fromtimestamp(created["occurred_at"], timezone.utc))


def test_project_data(five_events, receiver):
    project = five_events["project"]
    envelope = json.loads(receiver.at("/project.created")[0].body)
    assert envelope["data"] == {"uuid": project["id"], "name": "Website redesign",
                                "is_active": False, "currency": "USD", "hourly_rate": "120.00",
                                "client_uuid": five_events["client"]["id"]}
    assert_recent(datetime.fromtimestamp(envelope["occurred_at"], timezone.utc))


def test_invoice_data(five_events, receiver):
    invoice, paid = five_events["invoice"], five_events["paid"]

    def expected(api_invoice):
        return {"uuid": api_invoice["id"], "client_uuid": api_invoice["client_id"],
                **{k: api_invoice[k] for k in (
                    "invoice_number", "status", "subtotal", "tax_rate", "tax_amount", "total",
                    "currency", "period_start", "period_end", "due_date", "paid_date")}}

    created = json.loads(receiver.at("/invoice.created")[0].body)
    assert created["data"] == expected(invoice)
    assert created["data"]["status"] == "draft" and created["data"]["paid_date"] is None
    assert created["data"]["currency"] == "EUR"
    # about two hours at the project's 120.00: exactly what was tracked, to the cent
    seconds = five_events["closed"]["total_seconds"]
    assert 7200 <= seconds < 7260
    billed = (Decimal(seconds) * Decimal("120.00") / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert created["data"]["subtotal"] == str(billed)
    assert created["occurred_at"] == int(parse(invoice["created"]).timestamp())

    paid_event = json.loads(receiver.at("/invoice.paid")[0].body)
    assert paid_event["data"] == expected(paid)
    assert paid_event["data"]["status"] == "paid"
    assert paid_event["data"]["paid_date"] == datetime.now(timezone.utc).date().isoformat()
    assert_recent(datetime.fromtimestamp(paid_event["occurred_at"], timezone.utc))


def test_deliveries_are_recorded_on_the_subscriptions(five_events, api):
    for event, sub in five_events["subs"].items():
        after = subscription(api, sub["id"])
        assert after["last_status_code"] == 200
        assert after["failure_count"] == 0
        assert TIMESTAMP.fullmatch(after["last_delivery_at"])
        assert_recent(parse(after["last_delivery_at"]))
        assert {k: after[k] for k in ("id", "event", "target_url", "secret", "created_at")} == {
            k: sub[k] for k in ("id", "event", "target_url", "secret", "created_at")}


def test_the_signature_covers_exactly_the_bytes_sent(api, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    close(api, start_session(api)["id"])
    drain()
    [seen] = receiver.at("/hook")
    t, v1 = SIGNATURE.fullmatch(seen.headers["X-Temporalist-Signature"]).groups()
    assert v1 == hmac.new(sub["secret"].encode("ascii"), f"{t}.".encode() + seen.body,
                          hashlib.sha256).hexdigest()


# --- who receives what ---------------------------------------------------------------------

def test_session_events_reach_only_the_owners_subscriptions(api, mate, stranger, second_key,
                                                           receiver, drain):
    _, own_other_key = second_key
    for name, client in (("owner", api), ("owner-key2", own_other_key), ("mate", mate),
                         ("stranger", stranger)):
        for event in ("session.created", "session.closed"):
            subscribe(client, event, receiver.url(f"/{name}/{event}"))
    close(api, start_session(api)["id"])
    assert drain() == 4
    assert receiver.paths() == ["/owner-key2/session.closed", "/owner-key2/session.created",
                                "/owner/session.closed", "/owner/session.created"]


def test_project_created_reaches_only_the_owner(api, mate, stranger, receiver, drain):
    for name, client in (("owner", api), ("mate", mate), ("stranger", stranger)):
        subscribe(client, "project.created", receiver.url(f"/{name}"))
    ok(api.post("/projects/", {"name": "Private"}), 201)
    assert drain() == 1
    assert receiver.paths() == ["/owner"]


def test_invoice_events_reach_every_member_of_the_organisation(api, mate, stranger, second_key,
                                                               receiver, drain):
    _, own_other_key = second_key
    for name, client in (("owner", api), ("owner-key2", own_other_key), ("mate", mate),
                         ("stranger", stranger)):
        for event in ("invoice.created", "invoice.paid"):
            subscribe(client, event, receiver.url(f"/{name}/{event}"))
    _, _, invoice = billable_invoice(api)
    ok(api.post(f"/invoices/{invoice['id']}/mark_paid/"))
    assert drain() == 6
    assert receiver.paths() == sorted(f"/{name}/{event}" for name in ("owner", "owner-key2", "mate")
                                      for event in ("invoice.created", "invoice.paid"))
    ids = {json.loads(r.body)["data"]["uuid"] for r in receiver.requests}
    assert ids == {invoice["id"]}


def test_an_invoice_created_by_a_mate_reaches_the_owner(api, mate, stranger, receiver, drain):
    subscribe(api, "invoice.created", receiver.url("/owner"))
    subscribe(stranger, "invoice.created", receiver.url("/stranger"))
    billable_invoice(mate)
    assert drain() == 1
    assert receiver.paths() == ["/owner"]


def test_another_organisations_events_reach_nobody_here(api, mate, stranger, receiver, drain):
    for name, client in (("owner", api), ("mate", mate)):
        for event in EVENTS:
            subscribe(client, event, receiver.url(f"/{name}/{event}"))
    _, _, invoice = billable_invoice(stranger)
    ok(stranger.post(f"/invoices/{invoice['id']}/mark_paid/"))
    assert drain() == 0
    assert receiver.requests == []
    assert queue_counts() == (0, 0)


def test_a_subscription_only_gets_its_own_event(api, receiver, drain):
    subscribe(api, "session.closed", receiver.url("/closed"))
    start_session(api)  # session.created: not subscribed
    ok(api.post("/projects/", {"name": "Another"}), 201)  # project.created: not subscribed
    assert drain() == 0
    assert receiver.requests == []


def test_a_revoked_keys_subscriptions_get_nothing_even_when_already_queued(
        api, account, second_key, receiver, drain):
    subscribe(api, "session.closed", receiver.url("/revoked"))
    _, kept_client = second_key
    subscribe(kept_client, "session.closed", receiver.url("/kept"))
    close(api, start_session(api)["id"])
    assert queue_counts() == (2, 0)  # both deliveries are queued before the revocation
    accounts.revoke_key(account.key_id)
    assert drain() == 2
    assert receiver.paths() == ["/kept"]
    assert queue_counts() == (0, 0)  # the dropped delivery is done with, not retried


def test_a_deleted_subscription_gets_nothing_even_when_already_queued(api, receiver, drain):
    gone = subscribe(api, "session.closed", receiver.url("/gone"))
    subscribe(api, "session.closed", receiver.url("/kept"))
    close(api, start_session(api)["id"])
    assert queue_counts() == (2, 0)
    assert api.delete(f"/webhooks/{gone['id']}/").status_code == 204
    assert drain() == 2
    assert receiver.paths() == ["/kept"]
    assert queue_counts() == (0, 0)


def test_a_deleted_subscription_is_not_recreated_by_its_delivery(api, receiver, drain):
    gone = subscribe(api, "session.closed", receiver.url("/gone"))
    close(api, start_session(api)["id"])
    api.delete(f"/webhooks/{gone['id']}/")
    drain()
    assert api.get(f"/webhooks/{gone['id']}/").status_code == 404
    with pytest.raises(Subscription.DoesNotExist):
        Subscription.get(gone["id"], consistent_read=True)


# --- failures are recorded, once each -------------------------------------------------------

def deliver_one_close(api, drain, url) -> dict:
    sub = subscribe(api, "session.closed", url)
    close(api, start_session(api)["id"])
    assert drain() == 1
    return subscription(api, sub["id"])


@pytest.mark.parametrize("status", [500, 502, 503, 404, 400, 302, 301, 307, 304])
def test_a_non_2xx_answer_is_one_failure_with_its_status(api, receiver, drain, status):
    receiver.answers["/hook"] = status
    after = deliver_one_close(api, drain, receiver.url("/hook"))
    assert after["failure_count"] == 1
    assert after["last_status_code"] == status
    assert TIMESTAMP.fullmatch(after["last_delivery_at"])
    assert_recent(parse(after["last_delivery_at"]))
    assert [r.path for r in receiver.requests] == ["/hook"]  # a Location is never followed


def test_a_302_location_is_not_followed(api, receiver, drain):
    receiver.answers["/hook"] = 302
    after = deliver_one_close(api, drain, receiver.url("/hook"))
    assert (after["failure_count"], after["last_status_code"]) == (1, 302)
    assert receiver.at("/redirected") == []
    assert receiver.connections == 1


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_answer_is_a_success(api, receiver, drain, status):
    receiver.answers["/hook"] = status
    after = deliver_one_close(api, drain, receiver.url("/hook"))
    assert (after["failure_count"], after["last_status_code"]) == (0, status)
    assert_recent(parse(after["last_delivery_at"]))


def test_a_receiver_that_never_answers_is_one_failure_without_status(api, receiver, drain,
                                                                     deliverer):
    deliverer(timeout=0.5)
    receiver.answers["/hook"] = "hang"
    started = time.monotonic()
    after = deliver_one_close(api, drain, receiver.url("/hook"))
    assert time.monotonic() - started < 5  # gave up at the injected 0.5 s, not at 8 s
    assert (after["failure_count"], after["last_status_code"]) == (1, None)
    assert_recent(parse(after["last_delivery_at"]))
    assert len(receiver.at("/hook")) == 1  # it got the request; no retry followed


def test_a_refused_connection_is_one_failure_without_status(api, drain, closed_port):
    after = deliver_one_close(api, drain, f"http://127.0.0.1:{closed_port}/hook")
    assert (after["failure_count"], after["last_status_code"]) == (1, None)
    assert_recent(parse(after["last_delivery_at"]))


def test_failures_add_up_and_a_success_keeps_the_count(api, receiver, drain, closed_port):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    project = ok(api.post("/projects/", {"name": "P"}), 201)["id"]
    history = []
    for answer in (500, 302, 200, 500, 204):
        receiver.answers["/hook"] = answer
        close(api, start_session(api, project)["id"])
        assert drain() == 1
        after = subscription(api, sub["id"])
        history.append((after["failure_count"], after["last_status_code"]))
    assert history == [(1, 500), (2, 302), (2, 200), (3, 500), (3, 204)]


def test_a_status_is_cleared_when_the_next_attempt_has_no_response(api, receiver, drain,
                                                                  deliverer):
    deliverer(timeout=0.5)
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    project = ok(api.post("/projects/", {"name": "P"}), 201)["id"]
    close(api, start_session(api, project)["id"])
    drain()
    assert subscription(api, sub["id"])["last_status_code"] == 200
    receiver.answers["/hook"] = "hang"
    close(api, start_session(api, project)["id"])
    drain()
    after = subscription(api, sub["id"])
    assert (after["failure_count"], after["last_status_code"]) == (1, None)


def test_the_production_timeout_is_eight_seconds(api, receiver, drain, deliverer):
    assert settings().webhook_timeout_seconds == 8
    assert inspect.signature(outbound.post_once).parameters["timeout"].default == 8
    assert Deliverer().timeout is None  # so the handler uses the stage's 8 s
    used = []

    def spy(url, body, headers, **kwargs):
        used.append(kwargs["timeout"])
        return outbound.post_once(url, body, headers, **kwargs)

    deliverer(post=spy)
    deliver_one_close(api, drain, receiver.url("/hook"))
    assert used == [8]


def test_deliveries_of_a_batch_run_concurrently(api, receiver, drain, deliverer):
    deliverer(timeout=1.0)
    for n in range(4):
        receiver.answers[f"/hang{n}"] = "hang"
        subscribe(api, "session.closed", receiver.url(f"/hang{n}"))
    close(api, start_session(api)["id"])
    started = time.monotonic()
    assert drain() == 4
    assert time.monotonic() - started < 3.0  # one after another would take 4 s
    assert receiver.paths() == [f"/hang{n}" for n in range(4)]


def test_the_api_does_not_wait_on_receivers(api, receiver):
    receiver.answers["/hook"] = "hang"
    subscribe(api, "session.closed", receiver.url("/hook"))
    session = start_session(api)
    started = time.monotonic()
    close(api, session["id"])
    assert time.monotonic() - started < 5  # a delivery would hang for 8 s
    assert receiver.connections == 0
    assert queue_counts() == (1, 0)


# --- delivery-time SSRF: checked again, no socket to a blocked address ------------------------

class SocketSpy:
    """Stands in for the ``socket`` module inside ``outbound`` and counts sockets made."""

    def __init__(self):
        self.made = 0

    def socket(self, *args, **kwargs):
        self.made += 1
        return socket.socket(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(socket, name)


@pytest.fixture
def socket_spy(monkeypatch):
    spy = SocketSpy()
    monkeypatch.setattr(outbound, "socket", spy)
    return spy


def rebound_subscription(api, receiver, host: str = "rebound.test", scheme: str = "http") -> dict:
    """A subscription accepted for 127.0.0.1 whose stored URL now names ``host``.

    Stands for a name that was safe at creation and resolves elsewhere by delivery time.
    """
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    Subscription(sub["id"]).update(actions=[
        Subscription.target_url.set(f"{scheme}://{host}:{receiver.port}/hook")])
    return sub


def resolving_to(*addresses):
    def resolve(host, port):
        resolve.calls.append((host, port))
        return list(addresses)
    resolve.calls = []
    return resolve


@pytest.mark.parametrize("addresses", [
    ["10.0.0.1"], ["169.254.169.254"], ["100.64.0.1"], ["192.168.0.10"], ["fd00::1"],
    ["::ffff:127.0.0.1"], ["::ffff:10.0.0.1"], ["64:ff9b::a00:1"], ["0.0.0.0"],
    ["93.184.215.14", "10.0.0.7"],  # one bad record spoils the name
])
def test_a_name_resolving_to_a_blocked_address_opens_no_socket(
        api, receiver, drain, deliverer, socket_spy, addresses):
    resolver = resolving_to(*addresses)
    deliverer(resolver=resolver)
    sub = rebound_subscription(api, receiver)
    close(api, start_session(api)["id"])
    assert drain() == 1
    assert resolver.calls == [("rebound.test", receiver.port)]  # it was checked at delivery
    assert socket_spy.made == 0
    assert receiver.connections == 0 and receiver.requests == []
    after = subscription(api, sub["id"])
    assert (after["failure_count"], after["last_status_code"]) == (1, None)
    assert_recent(parse(after["last_delivery_at"]))


def test_outside_the_local_stage_a_name_resolving_to_loopback_opens_no_socket(
        api, receiver, drain, deliverer, socket_spy, production_rules):
    resolver = resolving_to("127.0.0.1")
    deliverer(resolver=resolver)
    sub = rebound_subscription(api, receiver, scheme="https")  # http:// alone would be refused
    close(api, start_session(api)["id"])
    assert drain() == 1
    assert resolver.calls == [("rebound.test", receiver.port)]
    assert socket_spy.made == 0
    assert receiver.connections == 0 and receiver.requests == []
    after = subscription(api, sub["id"])
    assert (after["failure_count"], after["last_status_code"]) == (1, None)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_outside_the_local_stage_a_stored_loopback_literal_opens_no_socket(
        api, receiver, drain, socket_spy, production_rules, scheme):
    sub = subscribe(api, "session.closed", f"{scheme}://127.0.0.1:{receiver.port}/hook")
    close(api, start_session(api)["id"])
    assert drain() == 1
    assert socket_spy.made == 0
    assert receiver.connections == 0
    assert subscription(api, sub["id"])["failure_count"] == 1


def test_control_the_spy_sees_an_allowed_delivery(api, receiver, drain, deliverer, socket_spy):
    """The counters above would notice a connection: an allowed name gets exactly one."""
    resolver = resolving_to("127.0.0.1")  # loopback: allowed in the local stage
    deliverer(resolver=resolver)
    sub = rebound_subscription(api, receiver)
    close(api, start_session(api)["id"])
    assert drain() == 1
    assert socket_spy.made == 1
    assert receiver.connections == 1
    [seen] = receiver.requests
    assert seen.headers["Host"] == f"rebound.test:{receiver.port}"
    assert verify(sub["secret"], seen.headers["X-Temporalist-Signature"], seen.body)
    assert subscription(api, sub["id"])["last_status_code"] == 200


# --- batches: one broken message does not replay the others --------------------------------

BROKEN_BODIES = ["{not json", "", "[]", "null", '"text"', "{}",
                 '{"event": "session.closed", "delivery_id": "x", "occurred_at": 1, "data": {}}',
                 '{"subscription_id": "00000000-0000-4000-8000-000000000000"}']


def queued_closes(api, receiver, names) -> list[dict]:
    """One session.closed per subscription in ``names``, received off the queue."""
    for name in names:
        subscribe(api, "session.closed", receiver.url(f"/{name}"))
    close(api, start_session(api)["id"])
    messages = receive_all()
    assert len(messages) == len(names)
    return messages


@pytest.mark.parametrize("broken", BROKEN_BODIES)
def test_a_broken_message_is_the_only_batch_item_failure(api, receiver, broken):
    good = queued_closes(api, receiver, ["a", "b", "c"])
    bad = {"MessageId": "broken-1", "ReceiptHandle": "handle-1", "Body": broken}
    event = lambda_event([good[0], bad, good[1], good[2]])
    result = deliver_webhooks(event, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "broken-1"}]}
    assert receiver.paths() == ["/a", "/b", "/c"]  # each of the others exactly once


def test_several_broken_messages_are_each_reported(api, receiver):
    good = queued_closes(api, receiver, ["a", "b"])
    bad = [{"MessageId": f"broken-{n}", "ReceiptHandle": f"h{n}", "Body": body}
           for n, body in enumerate(["{", "[]", "{}"])]
    event = lambda_event([bad[0], good[0], bad[1], good[1], bad[2]])
    result = deliver_webhooks(event, None)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == [
        "broken-0", "broken-1", "broken-2"]
    assert receiver.paths() == ["/a", "/b"]


def test_a_batch_without_broken_messages_reports_no_failures(api, receiver):
    good = queued_closes(api, receiver, ["a", "b"])
    result = deliver_webhooks(lambda_event(good), None)
    assert result == {"batchItemFailures": []}
    assert receiver.paths() == ["/a", "/b"]


def test_a_receiver_failure_is_not_a_batch_item_failure(api, receiver, closed_port):
    receiver.answers["/fail"] = 500
    subscribe(api, "session.closed", receiver.url("/fail"))
    subscribe(api, "session.closed", f"http://127.0.0.1:{closed_port}/refused")
    close(api, start_session(api)["id"])
    messages = receive_all()
    result = deliver_webhooks(lambda_event(messages), None)
    assert result == {"batchItemFailures": []}  # no automatic retries after an HTTP failure
    assert receiver.paths() == ["/fail"]


def test_the_poller_leaves_only_the_broken_message_on_the_queue(api, receiver, drain):
    for name in ("a", "b"):
        subscribe(api, "session.closed", receiver.url(f"/{name}"))
    close(api, start_session(api)["id"])
    sqs().send_message(QueueUrl=queue_url(), MessageBody="{not json")
    assert queue_counts() == (3, 0)
    assert drain() == 3
    assert receiver.paths() == ["/a", "/b"]
    assert queue_counts() == (0, 1)  # in flight until its visibility timeout, then retried
    assert drain() == 0
    assert receiver.paths() == ["/a", "/b"]


# --- exactly once --------------------------------------------------------------------------

def test_one_close_queues_one_message_per_subscription_and_one_post_each(
        api, mate, second_key, receiver):
    _, other = second_key
    subs = [subscribe(api, "session.closed", receiver.url("/a")),
            subscribe(api, "session.closed", receiver.url("/b")),
            subscribe(other, "session.closed", receiver.url("/c"))]
    subscribe(mate, "session.closed", receiver.url("/mate"))
    session = start_session(api)
    assert receive_all() == []  # session.created: nobody subscribed
    close(api, session["id"])
    again = ok(api.post(f"/sessions/{session['id']}/close/"))
    assert again["detail"] == "Session is already closed."
    ok(api.patch(f"/sessions/{session['id']}/", {"description": "amended"}))
    messages = receive_all()
    assert len(messages) == 3
    queued = [json.loads(m["Body"]) for m in messages]
    assert sorted(q["subscription_id"] for q in queued) == sorted(s["id"] for s in subs)
    delivery_ids = [q["delivery_id"] for q in queued]
    assert len(set(delivery_ids)) == 3 and all(UUID5.fullmatch(d) for d in delivery_ids)

    result = deliver_webhooks(lambda_event(messages), None)
    assert result == {"batchItemFailures": []}
    assert receiver.paths() == ["/a", "/b", "/c"]
    assert sorted(r.headers["X-Temporalist-Delivery"] for r in receiver.requests) == sorted(
        delivery_ids)


def test_a_message_processed_again_keeps_its_delivery_id(api, receiver):
    [message] = queued_closes(api, receiver, ["hook"])
    event = lambda_event([message])
    deliver_webhooks(event, None)
    deliver_webhooks(event, None)  # SQS may hand the same message over twice
    first, second = receiver.at("/hook")
    assert first.headers["X-Temporalist-Delivery"] == second.headers["X-Temporalist-Delivery"]
    assert json.loads(first.body) == json.loads(second.body)


def test_concurrent_closes_fire_once(api, receiver, drain):
    subscribe(api, "session.closed", receiver.url("/hook"))
    session = start_session(api)
    barrier = threading.Barrier(6)
    answers = []

    def close_it():
        barrier.wait(5)
        answers.append(api.post(f"/sessions/{session['id']}/close/").json())

    threads = [threading.Thread(target=close_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 6
    assert sum("detail" not in a for a in answers) == 1
    assert drain() == 1
    assert len(receiver.at("/hook")) == 1


def test_paying_twice_fires_invoice_paid_once(api, receiver, drain):
    subscribe(api, "invoice.paid", receiver.url("/paid"))
    _, _, invoice = billable_invoice(api)
    ok(api.post(f"/invoices/{invoice['id']}/mark_paid/"))
    ok(api.post(f"/invoices/{invoice['id']}/mark_paid/"))
    assert drain() == 1
    assert len(receiver.at("/paid")) == 1


def test_patching_end_time_fires_session_closed_once(api, receiver, drain):
    subscribe(api, "session.closed", receiver.url("/closed"))
    session = start_session(api, start_time=iso(datetime.now(timezone.utc) - timedelta(hours=1)))
    end = iso(datetime.now(timezone.utc) - timedelta(minutes=1))
    ok(api.patch(f"/sessions/{session['id']}/", {"end_time": end}))
    ok(api.patch(f"/sessions/{session['id']}/", {"end_time": iso(datetime.now(timezone.utc))}))
    assert drain() == 1
    [seen] = receiver.at("/closed")
    assert json.loads(seen.body)["data"]["end_time"] == end.replace("Z", "+00:00")


def test_without_subscriptions_nothing_is_queued_and_the_api_succeeds(api, drain, receiver):
    session = start_session(api)
    close(api, session["id"])
    _, _, invoice = billable_invoice(api)
    ok(api.post(f"/invoices/{invoice['id']}/mark_paid/"))
    assert queue_counts() == (0, 0)
    assert drain() == 0


def test_a_closed_session_logged_at_once_fires_only_session_created(api, receiver, drain):
    for event in ("session.created", "session.closed"):
        subscribe(api, event, receiver.url(f"/{event}"))
    now = datetime.now(timezone.utc)
    start_session(api, start_time=iso(now - timedelta(hours=1)), end_time=iso(now))
    assert drain() == 1
    [seen] = receiver.at("/session.created")
    assert json.loads(seen.body)["data"]["end_time"] == iso(now).replace("Z", "+00:00")
    assert receiver.at("/session.closed") == []


def test_subscriptions_with_many_subscribers_are_all_queued(api, receiver, drain):
    """More subscriptions than one SQS batch (10) still get one message each."""
    for n in range(12):
        subscribe(api, "session.closed", receiver.url(f"/s{n:02d}"))
    close(api, start_session(api)["id"])
    assert drain() == 12
    assert receiver.paths() == [f"/s{n:02d}" for n in range(12)]


def test_the_delivery_id_is_the_one_fixed_at_fan_out(api, receiver):
    """The delivery id in the header is the one fixed at fan-out (not made up at delivery)."""
    [message] = queued_closes(api, receiver, ["hook"])
    queued = json.loads(message["Body"])
    deliver_webhooks(lambda_event([message]), None)
    [seen] = receiver.at("/hook")
    assert seen.headers["X-Temporalist-Delivery"] == queued["delivery_id"]
    assert json.loads(seen.body)["delivery_id"] == queued["delivery_id"]
    assert uuid.UUID(queued["delivery_id"]).version == 5


def test_concurrent_failures_of_one_subscription_are_all_counted(api, receiver, drain):
    """A batch's deliveries run concurrently; each failure still adds exactly one."""
    receiver.answers["/fail"] = 500
    sub = subscribe(api, "session.closed", receiver.url("/fail"))
    project = ok(api.post("/projects/", {"name": "P"}), 201)["id"]
    for _ in range(8):
        close(api, start_session(api, project)["id"])
    assert queue_counts() == (8, 0)
    assert drain() == 8
    assert len(receiver.at("/fail")) == 8
    after = subscription(api, sub["id"])
    assert (after["failure_count"], after["last_status_code"]) == (8, 500)


def test_the_background_pollers_deliver_within_seconds(api, receiver):
    """``start_stream_poller`` and ``start_poller`` (what ``make run`` starts) read the change
    streams and the queue and call the same handlers as Lambda."""
    from chalicelib.local.stream_poller import start_stream_poller
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    stoppers = [start_stream_poller(fan_out_events), poller.start_poller(deliver_webhooks)]
    try:
        started = time.monotonic()
        close(api, start_session(api)["id"])
        deadline = started + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        [seen] = receiver.at("/hook")
        assert verify(sub["secret"], seen.headers["X-Temporalist-Signature"], seen.body)
    finally:
        for stop in stoppers:
            stop()
    assert queue_counts(fanned_out=False) == (0, 0)


def test_a_subscription_that_outlived_its_revoked_key_gets_nothing(aws, account):
    """A subscription created while its key was being revoked is caught at delivery."""
    import json as _json
    from datetime import datetime as _dt, timezone as _tz

    from chalicelib.events.delivery import Deliverer
    from chalicelib.services import accounts as _accounts
    from chalicelib.store.webhooks import Subscription, get_subscription

    _accounts.revoke_key(account.key_id)
    Subscription("0f0e0d0c-0b0a-4090-8070-605040302010", key_id=account.key_id,
                 user_id=account.user_id, organisation_id=account.organisation_id,
                 event="session.closed", target_url="http://127.0.0.1:9/never", secret="0" * 64,
                 created_at=_dt.now(_tz.utc), created_key="2026-06-26T09:00:00.000000#0f0e",
                 event_user=f"session.closed#{account.user_id}").save()
    posts = []
    deliverer = Deliverer(post=lambda *a, **k: posts.append(a) or outbound.PostResult(200, 1))
    message = {"subscription_id": "0f0e0d0c-0b0a-4090-8070-605040302010",
               "delivery_id": "d", "event": "session.closed", "occurred_at": 0, "data": {}}
    assert deliverer.deliver(_json.dumps(message)) is None
    assert posts == []
    # left in place: the delivery function may write only its outcome and its log
    assert get_subscription("0f0e0d0c-0b0a-4090-8070-605040302010").failure_count == 0


def test_a_failure_to_log_after_the_post_is_no_retry(api, receiver, monkeypatch):
    """The POST was made: a storage error after it must not hand the message back to SQS
    (the receiver would get it twice)."""
    from chalicelib.store import deliveries

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB is down")

    [message] = queued_closes(api, receiver, ["hook"])
    monkeypatch.setattr(deliveries, "record", broken)
    result = deliver_webhooks(lambda_event([message]), None)
    assert result == {"batchItemFailures": []}
    assert len(receiver.at("/hook")) == 1


def test_a_batch_whose_subscriptions_cannot_be_read_is_retried_whole_and_posts_nothing(
        api, receiver, monkeypatch):
    """The subscriptions and keys are read once, before any POST: when that read fails,
    every message of the batch is handed back (nothing was sent, so nothing repeats)."""
    from chalicelib.store import webhooks as webhook_store

    def down(*args, **kwargs):
        raise ConnectionError("DynamoDB is unreachable")

    good = queued_closes(api, receiver, ["a", "b"])
    monkeypatch.setattr(webhook_store, "get_subscriptions", down)
    bad = {"MessageId": "broken-1", "ReceiptHandle": "h", "Body": "{"}
    result = deliver_webhooks(lambda_event([good[0], bad, good[1]]), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": m} for m in (
        good[0]["MessageId"], "broken-1", good[1]["MessageId"])]}
    assert receiver.requests == [] and receiver.connections == 0
