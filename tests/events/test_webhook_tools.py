"""Webhook tools end to end: the delivery log, ping, redelivery, secret rotation, the Standard
Webhooks headers, the plan checked at delivery time and the extension events.

Requests go through the local gateway; queued deliveries are fanned out and delivered by
the same handlers Lambda runs (``drain``) to receivers on 127.0.0.1, which check every
delivery with the reference's ``verify``, Stripe's ``WebhookSignature.verify_header`` and
the ``standardwebhooks`` library.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import standardwebhooks
import stripe

from chalicelib.events.signing import standard_secret
from chalicelib.services import accounts
from chalicelib.store import deliveries
from chalicelib.store import webhooks as webhook_store
from chalicelib.store.pages import read_all
from tests.events.test_delivery import (  # noqa: F401 (fixtures)
    INVOICE_KEYS, SESSION_KEYS, UUID5, billable_invoice, close, closed_port,
    deliverer, drain, ok, production_rules, queue_counts, receiver, start_session, subscribe,
    subscription, verify)

LIST_FIELDS = {"id", "delivery_id", "event", "attempted_at", "status_code", "duration_ms",
               "succeeded", "error", "redelivery"}
OURS = ("Content-Type", "User-Agent", "X-Temporalist-Event", "X-Temporalist-Delivery",
        "X-Temporalist-Signature", "webhook-id", "webhook-timestamp", "webhook-signature")


def later(seconds: float):
    """A delivery clock ``seconds`` ahead of now (each call reads the real time)."""
    return lambda: datetime.now(timezone.utc) + timedelta(seconds=seconds)


def headers_of(seen) -> dict[str, str]:
    return {name: seen.headers[name] for name in OURS}


def verifies_with(secret: str, seen) -> dict[str, bool]:
    """Which verifiers accept the delivery ``seen`` with ``secret``."""
    header = seen.headers["X-Temporalist-Signature"]
    outcome = {"reference": verify(secret, header, seen.body)}
    try:
        outcome["stripe"] = stripe.WebhookSignature.verify_header(seen.body, header, secret,
                                                                  tolerance=300)
    except stripe.SignatureVerificationError:
        outcome["stripe"] = False
    try:
        standardwebhooks.Webhook(standard_secret(secret)).verify(seen.body, headers_of(seen))
        outcome["standard"] = True
    except standardwebhooks.WebhookVerificationError:
        outcome["standard"] = False
    return outcome


ALL = {"reference": True, "stripe": True, "standard": True}
NONE = {"reference": False, "stripe": False, "standard": False}


def ping(client, sid: str) -> str:
    queued = ok(client.post(f"/webhooks/{sid}/ping/"), 202)
    assert set(queued) == {"delivery_id", "status"} and queued["status"] == "queued"
    return queued["delivery_id"]


def log_of(client, sid: str) -> list[dict]:
    return ok(client.get(f"/webhooks/{sid}/deliveries/"))


def detail(client, sid: str, attempt_id: str) -> dict:
    return ok(client.get(f"/webhooks/{sid}/deliveries/{attempt_id}/"))


# --- ping --------------------------------------------------------------------------------

def test_a_ping_is_delivered_signed_three_ways_and_logged(api, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    delivery_id = ping(api, sub["id"])
    assert uuid.UUID(delivery_id).version == 4 and str(uuid.UUID(delivery_id)) == delivery_id
    assert receiver.requests == []  # queued, not sent by the request
    assert drain() == 1
    [seen] = receiver.at("/hook")
    envelope = json.loads(seen.body)
    assert envelope["event"] == "ping" and envelope["delivery_id"] == delivery_id
    assert envelope["data"] == {"webhook_id": sub["id"]}
    assert type(envelope["occurred_at"]) is int
    assert seen.headers["X-Temporalist-Event"] == "ping"
    assert seen.headers["webhook-id"] == seen.headers["X-Temporalist-Delivery"] == delivery_id
    t = seen.headers["X-Temporalist-Signature"].split(",")[0].removeprefix("t=")
    assert seen.headers["webhook-timestamp"] == t
    assert verifies_with(sub["secret"], seen) == ALL
    assert verifies_with("0" * 64, seen) == NONE

    [attempt] = log_of(api, sub["id"])
    assert set(attempt) == LIST_FIELDS
    assert (attempt["delivery_id"], attempt["event"], attempt["status_code"],
            attempt["succeeded"], attempt["error"], attempt["redelivery"]) == (
        delivery_id, "ping", 200, True, None, False)
    assert attempt["attempted_at"] == subscription(api, sub["id"])["last_delivery_at"]
    full = detail(api, sub["id"], attempt["id"])
    assert set(full) == LIST_FIELDS | {"request", "response"}
    assert full["request"]["body"].encode() == seen.body  # the raw text, as sent
    assert full["request"]["headers"] == headers_of(seen)
    assert full["response"]["body"] == "ok"
    assert full["response"]["headers"]["Content-Length"] == "2"


def test_a_ping_of_another_keys_subscription_queues_nothing(api, receiver, drain, gateway,
                                                           account):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    _, token = accounts.create_key(account.user_id, "Other", "write")
    other = api.as_(token)
    assert other.post(f"/webhooks/{sub['id']}/ping/").status_code == 404
    assert queue_counts() == (0, 0)


# --- the log: each outcome with its reason ------------------------------------------------

@pytest.mark.parametrize("answer, status, error", [
    (200, 200, None), (500, 500, None), (302, 302, None), ("hang", None, "timeout"),
    ("refused", None, "connection refused"), ("blocked", None, "blocked address")])
def test_the_log_shows_each_outcome(api, receiver, drain, deliverer, closed_port, request,
                                    answer, status, error):
    deliverer(timeout=0.5)
    if answer == "refused":
        url = f"http://127.0.0.1:{closed_port}/hook"
    elif answer == "blocked":  # accepted locally, refused where loopback is not allowed
        url = f"https://127.0.0.1:{receiver.port}/hook"
    else:
        receiver.answers["/hook"] = answer
        url = receiver.url("/hook")
    sub = subscribe(api, "session.closed", url)
    if answer == "blocked":
        request.getfixturevalue("production_rules")
    ping(api, sub["id"])
    assert drain() == 1
    [attempt] = log_of(api, sub["id"])
    assert (attempt["status_code"], attempt["error"], attempt["succeeded"]) == (
        status, error, status == 200)
    assert attempt["duration_ms"] >= (450 if answer == "hang" else 0)
    full = detail(api, sub["id"], attempt["id"])
    if status is None:
        assert full["response"] is None
    else:
        assert full["response"]["body"] == "ok"
    if answer == 302:  # a response, not followed
        assert full["response"]["headers"]["Location"].endswith("/redirected")
        assert receiver.at("/redirected") == []
    after = subscription(api, sub["id"])
    assert (after["last_status_code"], after["failure_count"]) == (status, int(status != 200))
    assert receiver.connections == (0 if answer in ("refused", "blocked") else 1)


def test_the_log_is_newest_first_and_pages(api, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    sent = []
    for _ in range(5):
        sent.append(ping(api, sub["id"]))
        assert drain() == 1
    log = log_of(api, sub["id"])
    assert [a["delivery_id"] for a in log] == sent[::-1]
    first = api.get(f"/webhooks/{sub['id']}/deliveries/?page_size=2")
    assert [a["delivery_id"] for a in first.json()] == sent[:-3:-1]
    link = first.header("Link")
    assert link.endswith('>; rel="next"')
    pages = [first.json()]
    while link:
        url = link[1:link.index(">")]
        page = api.get(url[url.index("/api/v1"):])
        pages.append(page.json())
        link = page.header("Link")
    assert [a["id"] for p in pages for a in p] == [a["id"] for a in log]
    assert [len(p) for p in pages] == [2, 2, 1]


# --- redelivery ------------------------------------------------------------------------------

def test_redelivery_sends_the_same_bytes_signed_anew(api, receiver, drain, deliverer):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    session = start_session(api, description="Café ☕ \"quoted\" \U0001F600")
    close(api, session["id"])
    assert drain() == 1
    [original] = log_of(api, sub["id"])
    receiver.answers["/hook"] = 500
    deliverer(clock=later(90))  # a later time: a new timestamp and signature
    queued = ok(api.post(f"/webhooks/{sub['id']}/deliveries/{original['id']}/redeliver/"), 202)
    assert queued == {"delivery_id": original["delivery_id"], "status": "queued"}
    assert drain() == 1
    first, again = receiver.at("/hook")
    assert again.body == first.body  # byte for byte
    assert UUID5.fullmatch(json.loads(again.body)["delivery_id"])
    for name in ("X-Temporalist-Delivery", "webhook-id", "X-Temporalist-Event"):
        assert again.headers[name] == first.headers[name]
    for name in ("X-Temporalist-Signature", "webhook-timestamp", "webhook-signature"):
        assert again.headers[name] != first.headers[name]
    assert int(again.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"]) + 89
    assert verifies_with(sub["secret"], again) == ALL

    newest, oldest = log_of(api, sub["id"])
    assert oldest == original
    assert (newest["delivery_id"], newest["redelivery"], newest["status_code"],
            newest["succeeded"]) == (original["delivery_id"], True, 500, False)
    assert newest["id"] != original["id"]
    after = subscription(api, sub["id"])  # the outcome is recorded like any delivery's
    assert (after["last_status_code"], after["failure_count"]) == (500, 1)
    assert after["last_delivery_at"] == newest["attempted_at"]

    # a redelivery can itself be redelivered: still the same bytes and id
    receiver.answers["/hook"] = 200
    ok(api.post(f"/webhooks/{sub['id']}/deliveries/{newest['id']}/redeliver/"), 202)
    assert drain() == 1
    assert receiver.at("/hook")[2].body == first.body
    after = subscription(api, sub["id"])
    assert (after["last_status_code"], after["failure_count"]) == (200, 1)


def test_a_redelivery_queued_for_a_deleted_subscription_sends_nothing(api, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    ping(api, sub["id"])
    drain()
    [attempt] = log_of(api, sub["id"])
    ok(api.post(f"/webhooks/{sub['id']}/deliveries/{attempt['id']}/redeliver/"), 202)
    assert api.delete(f"/webhooks/{sub['id']}/").status_code == 204
    assert drain() == 1
    assert len(receiver.requests) == 1
    assert read_all(deliveries.listing(sub["id"])) != []  # the old log stays until its TTL
    assert api.get(f"/webhooks/{sub['id']}/deliveries/").status_code == 404


# --- secret rotation -------------------------------------------------------------------------

def rotate(client, sid: str, body=None) -> dict:
    return ok(client.post(f"/webhooks/{sid}/rotate_secret/", body))


def test_during_the_overlap_both_secrets_verify_and_then_only_the_new(api, receiver, drain,
                                                                      deliverer):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    old = sub["secret"]
    rotated = rotate(api, sub["id"], {"overlap_seconds": 60})
    assert set(rotated) == set(sub) and rotated["secret"] != old
    assert {k: v for k, v in rotated.items() if k != "secret"} == {
        k: v for k, v in sub.items() if k != "secret"}
    new = rotated["secret"]
    assert subscription(api, sub["id"])["secret"] == new

    ping(api, sub["id"])
    assert drain() == 1
    [during] = receiver.requests
    assert len(during.headers["X-Temporalist-Signature"].split(",v1=")) == 3
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verifies_with(new, during) == {"reference": False, "stripe": True, "standard": True}
    assert verifies_with(old, during) == ALL  # the reference's verify keeps the last v1
    assert webhook_store.get_subscription(sub["id"]).previous_secret == old

    deliverer(clock=later(61))  # the overlap is over
    ping(api, sub["id"])
    assert drain() == 1
    after = receiver.requests[1]
    assert len(after.headers["X-Temporalist-Signature"].split(",v1=")) == 2
    assert verifies_with(new, after) == ALL
    assert verifies_with(old, after) == NONE
    stored = webhook_store.get_subscription(sub["id"])  # forgotten by that delivery
    assert (stored.previous_secret, stored.previous_secret_until) == (None, None)


def test_without_an_overlap_only_the_new_secret_signs(api, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    new = rotate(api, sub["id"], {"overlap_seconds": 0})["secret"]
    assert webhook_store.get_subscription(sub["id"]).previous_secret is None
    ping(api, sub["id"])
    drain()
    [seen] = receiver.requests
    assert verifies_with(new, seen) == ALL
    assert verifies_with(sub["secret"], seen) == NONE


def test_a_second_rotation_keeps_only_the_secret_it_replaced(api, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    second = rotate(api, sub["id"])["secret"]  # default overlap: a day
    third = rotate(api, sub["id"])["secret"]
    ping(api, sub["id"])
    drain()
    [seen] = receiver.requests
    assert verifies_with(third, seen)["stripe"] and verifies_with(second, seen) == ALL
    assert verifies_with(sub["secret"], seen) == NONE


def test_the_default_overlap_is_a_day(api):
    sub = subscribe(api, "session.closed", "http://127.0.0.1:9/hook")
    before = datetime.now(timezone.utc)
    rotate(api, sub["id"])
    until = webhook_store.get_subscription(sub["id"]).previous_secret_until
    assert timedelta(days=1) - timedelta(seconds=1) <= until - before <= timedelta(days=1,
                                                                                  seconds=5)


# --- the plan at delivery time ---------------------------------------------------------------

def test_a_downgraded_users_subscription_gets_nothing_and_nothing_changes(
        api, account, receiver, drain):
    sub = subscribe(api, "session.closed", receiver.url("/hook"))
    close(api, start_session(api)["id"])
    ping(api, sub["id"])
    assert queue_counts() == (2, 0)  # queued while the user was on Pro
    accounts.set_plan(account.user_id, "free")
    assert drain() == 2
    assert receiver.requests == [] and receiver.connections == 0
    assert queue_counts() == (0, 0)  # skipped, not kept for later
    stored = webhook_store.get_subscription(sub["id"])
    assert (stored.last_delivery_at, stored.last_status_code, stored.failure_count) == (
        None, None, 0)
    assert read_all(deliveries.listing(sub["id"])) == []
    accounts.set_plan(account.user_id, "pro")  # back on Pro: later events are delivered
    assert log_of(api, sub["id"]) == []
    close(api, start_session(api)["id"])
    assert drain() == 1
    assert len(receiver.requests) == 1


# --- the extension events reach their receivers ------------------------------------------------

def test_session_updated_deleted_and_invoice_sent_reach_their_receivers(api, receiver, drain):
    subs = {event: subscribe(api, event, receiver.url(f"/{event}"))
            for event in ("session.updated", "session.deleted", "invoice.sent")}
    session = start_session(api)
    ok(api.patch(f"/sessions/{session['id']}/", {"description": "Kick-off"}))
    assert api.delete(f"/sessions/{session['id']}/").status_code == 204
    _, _, invoice = billable_invoice(api)
    sent = ok(api.post(f"/invoices/{invoice['id']}/send/"))
    assert drain() == 3
    assert receiver.paths() == ["/invoice.sent", "/session.deleted", "/session.updated"]
    for event, sub in subs.items():
        [seen] = receiver.at(f"/{event}")
        envelope = json.loads(seen.body)
        assert envelope["event"] == event == seen.headers["X-Temporalist-Event"]
        assert set(envelope["data"]) == (INVOICE_KEYS if event == "invoice.sent"
                                         else SESSION_KEYS)
        assert verifies_with(sub["secret"], seen) == ALL
        [attempt] = log_of(api, sub["id"])
        assert (attempt["event"], attempt["succeeded"]) == (event, True)
    updated = json.loads(receiver.at("/session.updated")[0].body)["data"]
    deleted = json.loads(receiver.at("/session.deleted")[0].body)["data"]
    assert updated["description"] == deleted["description"] == "Kick-off"
    assert updated["uuid"] == deleted["uuid"] == session["id"]
    sent_data = json.loads(receiver.at("/invoice.sent")[0].body)["data"]
    assert (sent_data["uuid"], sent_data["status"]) == (sent["id"], "sent")


# --- limits: the largest envelope and a receiver's oversized answer ------------------------------

def test_the_largest_envelope_and_an_oversized_answer_are_logged_within_item_limits(
        api, receiver, drain):
    receiver.answers["/loud"] = "loud"
    sub = subscribe(api, "session.closed", receiver.url("/loud"))
    session = start_session(api, description="\U0001F600" * 10_000)
    close(api, session["id"])
    assert drain() == 1
    [body] = [seen.body for seen in receiver.at("/loud")]
    assert len(body) > 120_000  # every emoji ASCII-escaped as two \\uXXXX
    [attempt] = log_of(api, sub["id"])
    full = detail(api, sub["id"], attempt["id"])
    assert full["request"]["body"].encode() == body
    assert full["response"]["body"] == "é" * 2048
    kept = full["response"]["headers"]
    assert sum(len(k.encode()) + len(v.encode()) for k, v in kept.items()) <= 16 * 1024
    assert list(kept)[:3] == ["Server", "Date", "X-Filler-00"]  # in order, the rest cut
    item = deliveries.get_attempt(attempt["id"])
    size = sum(len(name) + len(json.dumps(value, ensure_ascii=False).encode())
               for name, value in item.serialize().items())
    assert size < 200 * 1024  # DynamoDB's limit is 400 KB
    kept_for = item.expires_at - item.attempted_at  # TTL: whole seconds
    assert timedelta(days=30, seconds=-1) < kept_for <= timedelta(days=30)
