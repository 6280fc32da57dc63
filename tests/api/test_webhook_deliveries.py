"""The webhook tools' routes over the local gateway: shapes, who may see and do what, the
rotation body's validation, pages of the log and what a request queues.

Attempts are written straight into the store (no receiver needed); delivery itself is
tested end to end in tests/events/test_webhook_tools.py.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.accounts import PLAN_DENIED, SCOPE_DENIED
from chalicelib.services import accounts
from chalicelib.store import deliveries
from chalicelib.store import webhooks as webhook_store
from tests.conftest import ApiClient

TARGET = "http://127.0.0.1:9/hook"
NOT_FOUND = {"detail": "Not found."}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
AT = datetime(2026, 6, 26, 9, 0, tzinfo=timezone.utc)


def subscribe(client: ApiClient) -> dict:
    response = client.post("/webhooks/", {"event": "session.closed", "target_url": TARGET})
    assert response.status_code == 201, response.text
    return response.json()


def logged(sid: str, *, at: datetime = AT, answered: bool = True) -> str:
    """An attempt of subscription ``sid`` in the log; returns its id."""
    return deliveries.record(deliveries.Attempt(
        subscription_id=sid, delivery_id=str(uuid.uuid4()),
        event="session.closed", attempted_at=at,
        request_headers={"Content-Type": "application/json", "webhook-id": "x"},
        request_body=b'{"event":"session.closed","data":{"description":"Caf\\u00e9"}}',
        status_code=502 if answered else None, duration_ms=31, succeeded=False,
        error=None if answered else "connection refused",
        response_headers=[("Server", "nginx")] if answered else None,
        response_body="Bad gateway ☹" if answered else None)).id


def queued() -> list[dict]:
    """The messages the API put on the webhook queue (taken off it)."""
    from tests.events.test_delivery import receive_all
    return [json.loads(m["Body"]) for m in receive_all(fanned_out=False)]


@pytest.fixture
def sub(api) -> dict:
    """A subscription of the default key, with one answered attempt in its log."""
    made = subscribe(api)
    made["attempt_id"] = logged(made["id"])
    return made


def routes(sid: str, aid: str) -> list[tuple[str, str]]:
    return [("GET", f"/webhooks/{sid}/deliveries/"),
            ("GET", f"/webhooks/{sid}/deliveries/{aid}/"),
            ("POST", f"/webhooks/{sid}/deliveries/{aid}/redeliver/"),
            ("POST", f"/webhooks/{sid}/ping/"),
            ("POST", f"/webhooks/{sid}/rotate_secret/")]


# --- shapes ------------------------------------------------------------------------------

def test_the_log_and_an_attempt(api, sub):
    silent = logged(sub["id"], at=AT + timedelta(seconds=1), answered=False)
    listed = api.get(f"/webhooks/{sub['id']}/deliveries/").json()
    assert [a["id"] for a in listed] == [silent, sub["attempt_id"]]
    assert listed[1] == {
        "id": sub["attempt_id"], "delivery_id": listed[1]["delivery_id"],
        "event": "session.closed", "attempted_at": "2026-06-26T09:00:00Z", "status_code": 502,
        "duration_ms": 31, "succeeded": False, "error": None, "redelivery": False}
    assert (listed[0]["status_code"], listed[0]["error"]) == (None, "connection refused")

    answered = api.get(f"/webhooks/{sub['id']}/deliveries/{sub['attempt_id']}/")
    assert answered.status_code == 200
    assert answered.json() == {**listed[1], "request": {
        "headers": {"Content-Type": "application/json", "webhook-id": "x"},
        "body": '{"event":"session.closed","data":{"description":"Caf\\u00e9"}}'},
        "response": {"headers": {"Server": "nginx"}, "body": "Bad gateway ☹"}}
    assert "Bad gateway ☹" in answered.text  # written as itself, not escaped
    unanswered = api.get(f"/webhooks/{sub['id']}/deliveries/{silent}").json()
    assert unanswered["response"] is None


def test_a_new_subscription_has_an_empty_log(api):
    assert api.get(f"/webhooks/{subscribe(api)['id']}/deliveries/").json() == []


def test_ping_and_redeliver_queue_one_small_message_each(api, sub):
    pinged = api.post(f"/webhooks/{sub['id']}/ping/")
    assert pinged.status_code == 202
    delivery_id = pinged.json()["delivery_id"]
    assert UUID4.fullmatch(delivery_id) and pinged.json()["status"] == "queued"
    again = api.post(f"/webhooks/{sub['id']}/deliveries/{sub['attempt_id']}/redeliver/")
    assert again.status_code == 202
    original = deliveries.get_attempt(sub["attempt_id"]).delivery_id
    assert again.json() == {"delivery_id": original, "status": "queued"}
    ping_message, redelivery_message = queued()
    assert ping_message == {"subscription_id": sub["id"], "delivery_id": delivery_id,
                            "event": "ping", "occurred_at": ping_message["occurred_at"],
                            "data": {"webhook_id": sub["id"]}}
    assert redelivery_message == {"subscription_id": sub["id"],
                                  "redeliver_attempt_id": sub["attempt_id"]}


def test_an_idempotent_ping_is_queued_once(api, sub):
    headers = {"Idempotency-Key": "ping-1"}
    first = api.post(f"/webhooks/{sub['id']}/ping/", headers=headers)
    second = api.post(f"/webhooks/{sub['id']}/ping/", headers=headers)
    assert second.json() == first.json() and second.header("Idempotent-Replayed") == "true"
    assert len(queued()) == 1


def test_rotate_answers_the_subscription_with_a_new_secret(api, sub):
    rotated = api.post(f"/webhooks/{sub['id']}/rotate_secret/")
    assert rotated.status_code == 200
    body = rotated.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["secret"]) and body["secret"] != sub["secret"]
    assert {k: v for k, v in body.items() if k != "secret"} == {
        k: v for k, v in sub.items() if k not in ("secret", "attempt_id")}
    assert api.get("/webhooks/").json()[0]["secret"] == body["secret"]


# --- who may see and do what -------------------------------------------------------------------

def test_another_key_of_the_same_user_gets_404_everywhere_and_changes_nothing(
        api, sub, account, gateway):
    _, token = accounts.create_key(account.user_id, "Other key", "write")
    other = ApiClient(gateway, token)
    for method, path in routes(sub["id"], sub["attempt_id"]):
        response = other.request(method, path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    assert queued() == []
    assert webhook_store.get_subscription(sub["id"]).secret == sub["secret"]


def test_another_tenants_attempt_ids_are_404_under_my_subscription(api, sub, gateway,
                                                                   make_account):
    stranger = make_account("Initech", email="peter@initech.example")
    theirs = subscribe(ApiClient(gateway, stranger.token))
    their_attempt = logged(theirs["id"])
    for method, path in routes(sub["id"], their_attempt)[1:3]:
        response = api.request(method, path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    # and my attempt under their subscription, or under another of mine
    mine = subscribe(api)
    for sid in (theirs["id"], mine["id"]):
        for method, path in routes(sid, sub["attempt_id"])[1:3]:
            assert api.request(method, path).status_code == 404, path
    assert queued() == []


def test_a_read_key_may_not_ping_redeliver_or_rotate(api, sub, account, gateway):
    _, token = accounts.create_key(account.user_id, "Read key", "read")
    reader = ApiClient(gateway, token)
    for method, path in routes(sub["id"], sub["attempt_id"]):
        response = reader.request(method, path)
        if method == "POST":
            assert (response.status_code, response.json()) == (403, {"detail": SCOPE_DENIED})
        else:  # allowed, but the subscription is the write key's
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert queued() == []


def test_a_user_no_longer_on_pro_is_refused_everywhere(api, sub, account):
    accounts.set_plan(account.user_id, "free")
    for method, path in routes(sub["id"], sub["attempt_id"]):
        response = api.request(method, path)
        assert (response.status_code, response.json()) == (403, {"detail": PLAN_DENIED})


def test_without_a_key_is_401(anonymous, sub):
    for method, path in routes(sub["id"], sub["attempt_id"]):
        response = anonymous.request(method, path)
        assert response.status_code == 401
        assert response.header("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("bad", ["not-a-uuid", "123", "00000000-0000-4000-8000-000000000000"])
def test_malformed_or_unknown_ids_are_404(api, sub, bad):
    for method, path in routes(bad, sub["attempt_id"]) + routes(sub["id"], bad)[1:3]:
        response = api.request(method, path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), path
    assert queued() == []


def test_uppercase_ids_name_the_same_objects(api, sub):
    path = f"/webhooks/{sub['id'].upper()}/deliveries/{sub['attempt_id'].upper()}/"
    assert api.get(path).json()["id"] == sub["attempt_id"]
    assert api.post(path + "redeliver/").status_code == 202


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/webhooks/{sid}/ping/", {"POST"}),
    ("DELETE", "/webhooks/{sid}/deliveries/", {"GET"}),
    ("GET", "/webhooks/{sid}/rotate_secret/", {"POST"}),
    ("PATCH", "/webhooks/{sid}/deliveries/{aid}/", {"GET"}),
    ("GET", "/webhooks/{sid}/deliveries/{aid}/redeliver/", {"POST"}),
])
def test_unsupported_methods_are_405(api, sub, method, path, allow):
    response = api.request(method, path.format(sid=sub["id"], aid=sub["attempt_id"]))
    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method}" not allowed.'}
    assert {m.strip() for m in response.header("Allow").split(",")} >= allow


# --- the rotation body ---------------------------------------------------------------------------

MIN = "Ensure this value is greater than or equal to 0."
MAX = "Ensure this value is less than or equal to 604800."
NOT_INT = "A valid integer is required."


@pytest.mark.parametrize("overlap, seconds", [(0, None), (1, 1), (604800, 604800),
                                              (3600.0, 3600), (1e3, 1000)])
def test_overlaps_at_their_bounds_are_accepted(api, sub, overlap, seconds):
    before = datetime.now(timezone.utc)
    response = api.post(f"/webhooks/{sub['id']}/rotate_secret/", {"overlap_seconds": overlap})
    assert response.status_code == 200, response.text
    stored = webhook_store.get_subscription(sub["id"])
    if seconds is None:
        assert (stored.previous_secret, stored.previous_secret_until) == (None, None)
    else:
        assert stored.previous_secret == sub["secret"]
        left = stored.previous_secret_until - before
        assert timedelta(seconds=seconds - 1) <= left <= timedelta(seconds=seconds + 5)


@pytest.mark.parametrize("overlap, message", [
    (-1, MIN), (604801, MAX), (10 ** 30, MAX), (1.5, NOT_INT), ("3600", NOT_INT),
    (True, NOT_INT), ([3600], NOT_INT), ({}, NOT_INT), (None, "This field may not be null.")])
def test_bad_overlaps_are_field_errors_and_change_nothing(api, sub, overlap, message):
    response = api.post(f"/webhooks/{sub['id']}/rotate_secret/", {"overlap_seconds": overlap})
    assert (response.status_code, response.json()) == (400, {"overlap_seconds": [message]})
    assert webhook_store.get_subscription(sub["id"]).secret == sub["secret"]


def test_unknown_fields_are_ignored(api, sub):
    response = api.post(f"/webhooks/{sub['id']}/rotate_secret/", {"secret": "0" * 64})
    assert response.status_code == 200 and response.json()["secret"] != "0" * 64


@pytest.mark.parametrize("body, headers, status, detail", [
    (b"{nope", {"Content-Type": "application/json"}, 400, None),
    (b"[]", {"Content-Type": "application/json"}, 400,
     {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    (b"overlap_seconds=5", {"Content-Type": "text/plain"}, 415,
     {"detail": 'Unsupported media type "text/plain" in request.'}),
])
def test_a_bad_body(api, sub, body, headers, status, detail):
    response = api.post(f"/webhooks/{sub['id']}/rotate_secret/", body=body, headers=headers)
    assert response.status_code == status
    if detail is not None:
        assert response.json() == detail
    else:
        assert response.json()["detail"].startswith("JSON parse error - ")


def test_404_comes_before_a_bad_body(api, sub, account, gateway):
    _, token = accounts.create_key(account.user_id, "Other key", "write")
    other = ApiClient(gateway, token)
    response = other.post(f"/webhooks/{sub['id']}/rotate_secret/", {"overlap_seconds": -1})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = other.post(f"/webhooks/{sub['id']}/rotate_secret/", body=b"x",
                          headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# --- pages of the log --------------------------------------------------------------------------

def test_pages_and_cursors_are_bound_to_the_subscription(api, sub):
    for n in range(1, 4):
        logged(sub["id"], at=AT + timedelta(seconds=n))
    first = api.get(f"/webhooks/{sub['id']}/deliveries/?page_size=3")
    assert len(first.json()) == 3
    link = first.header("Link")
    cursor = re.search(r"cursor=([^&>]+)", link).group(1)
    rest = api.get(f"/webhooks/{sub['id']}/deliveries/?page_size=3&cursor={cursor}")
    assert [a["id"] for a in rest.json()] == [sub["attempt_id"]]
    assert rest.header("Link") is None
    other = subscribe(api)
    response = api.get(f"/webhooks/{other['id']}/deliveries/?page_size=3&cursor={cursor}")
    assert (response.status_code, response.json()) == (404, {"detail": "Invalid cursor"})


@pytest.mark.parametrize("size, message", [
    ("0", "Ensure this value is greater than or equal to 1."),
    ("1001", "Ensure this value is less than or equal to 1000."),
    ("x", "A valid integer is required.")])
def test_a_bad_page_size_is_400(api, sub, size, message):
    response = api.get(f"/webhooks/{sub['id']}/deliveries/?page_size={size}")
    assert (response.status_code, response.json()) == (400, {"page_size": [message]})
