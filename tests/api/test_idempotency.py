"""Idempotency-Key on every POST: replays, conflicts, independence per key, expiry (SPEC section 7)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from chalicelib import errors
from chalicelib.services import idempotency
from chalicelib.store.idempotency import IdempotencyRecord
from tests.conftest import ApiClient


@pytest.fixture
def billing(api):
    """A client with a project at 120.00 and one closed hour in June 2026."""
    client = api.post("/clients/", {"name": "Globex Corp"}).json()
    project = api.post("/projects/", {"name": "Site", "hourly_rate": "120.00",
                                      "client_id": client["id"]}).json()
    api.post("/sessions/", {"project_id": project["id"], "start_time": "2026-06-02T09:00:00Z",
                            "end_time": "2026-06-02T10:00:00Z"})
    return {"client": client, "project": project}


def _invoice_body(billing) -> dict:
    return {"client_id": billing["client"]["id"], "period_start": "2026-06-01",
            "period_end": "2026-06-30"}


def _twice(api, path, body=None, key="key-1"):
    headers = {"Idempotency-Key": key}
    return api.post(path, body, headers=headers), api.post(path, body, headers=headers)


def _assert_replayed(first, second):
    assert first.status_code == second.status_code
    assert first.json() == second.json()
    assert first.header("Idempotent-Replayed") is None
    assert second.header("Idempotent-Replayed") == "true"


@pytest.mark.parametrize("path,body,listing,event", [
    ("/projects/", {"name": "Website redesign"}, "/projects/", "project.created"),
    ("/clients/", {"name": "Globex Corp"}, "/clients/", None),
])
def test_simple_creates_happen_once(api, events, path, body, listing, event):
    first, second = _twice(api, path, body)
    assert first.status_code == 201
    _assert_replayed(first, second)
    assert len(api.get(listing).json()) == 1
    assert [e.event for e in events].count(event) == (1 if event else 0)


def test_session_start_happens_once(api, events):
    project = api.post("/projects/", {"name": "Site"}).json()
    first, second = _twice(api, "/sessions/", {"project_id": project["id"]})
    _assert_replayed(first, second)
    assert len(api.get("/sessions/").json()) == 1
    assert [e.event for e in events].count("session.created") == 1


def test_close_replays_the_first_answer_not_the_already_closed_one(api, events):
    project = api.post("/projects/", {"name": "Site"}).json()
    session = api.post("/sessions/", {"project_id": project["id"]}).json()
    first, second = _twice(api, f"/sessions/{session['id']}/close/")
    _assert_replayed(first, second)
    assert "detail" not in second.json()  # the bare session, as first answered
    assert [e.event for e in events].count("session.closed") == 1


def test_invoice_create_consumes_one_number(api, billing, events):
    first, second = _twice(api, "/invoices/", _invoice_body(billing))
    _assert_replayed(first, second)
    assert first.json()["invoice_number"].endswith("-0001")
    assert len(api.get("/invoices/").json()) == 1
    assert [e.event for e in events].count("invoice.created") == 1
    third = api.post("/invoices/", _invoice_body(billing))
    assert third.json()["invoice_number"].endswith("-0002")


def test_send_and_mark_paid_replay(api, billing, events):
    invoice = api.post("/invoices/", _invoice_body(billing)).json()
    sent = _twice(api, f"/invoices/{invoice['id']}/send/", key="send")
    _assert_replayed(*sent)
    paid = _twice(api, f"/invoices/{invoice['id']}/mark_paid/", key="paid")
    _assert_replayed(*paid)
    assert paid[1].json()["status"] == "paid"
    assert [e.event for e in events].count("invoice.paid") == 1


def test_webhook_subscription_created_once(api):
    body = {"event": "session.closed", "target_url": "http://127.0.0.1:9/hook"}
    first, second = _twice(api, "/webhooks/", body)
    assert first.status_code == 201
    _assert_replayed(first, second)
    assert len(api.get("/webhooks/").json()) == 1


def test_a_4xx_is_stored_and_replayed_too(api):
    first, second = _twice(api, "/projects/", {"name": ""})
    assert first.status_code == 400
    _assert_replayed(first, second)


def test_same_key_different_body_is_400_and_writes_nothing(api):
    api.post("/projects/", {"name": "A"}, headers={"Idempotency-Key": "k"})
    response = api.post("/projects/", {"name": "B"}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Idempotency-Key was already used with a different request."}
    assert [p["name"] for p in api.get("/projects/").json()] == ["A"]


def test_same_key_on_another_path_is_a_different_request(api):
    project = api.post("/projects/", {"name": "A"}, headers={"Idempotency-Key": "k"}).json()
    response = api.post("/sessions/", {"project_id": project["id"]},
                        headers={"Idempotency-Key": "k"})
    assert response.status_code == 400


def test_json_key_order_and_spacing_do_not_matter(api):
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    api.post("/projects/", body=b'{"name": "A", "currency": "EUR"}', headers=headers)
    again = api.post("/projects/", body=b'{"currency":"EUR","name":"A"}', headers=headers)
    assert again.header("Idempotent-Replayed") == "true"


def test_keys_of_different_api_keys_are_independent(api, gateway, make_account, account):
    other = ApiClient(gateway, make_account(organisation_id=account.organisation_id,
                                            email="b@example.com").token)
    api.post("/projects/", {"name": "A"}, headers={"Idempotency-Key": "shared"})
    response = other.post("/projects/", {"name": "B"}, headers={"Idempotency-Key": "shared"})
    assert response.status_code == 201
    assert response.header("Idempotent-Replayed") is None


@pytest.mark.parametrize("key,message", [
    ("x" * 256, "Ensure this field has no more than 255 characters."),
    ("tab\there", "Only printable ASCII characters are allowed."),
    ("caf\u00e9", "Only printable ASCII characters are allowed."),
])
def test_invalid_keys_are_refused_and_nothing_runs(api, key, message):
    response = api.post("/projects/", {"name": "A"}, headers={"Idempotency-Key": key})
    assert (response.status_code, response.json()) == (400, {"Idempotency-Key": [message]})
    assert api.get("/projects/").json() == []


def test_a_255_character_key_is_fine(api):
    assert api.post("/projects/", {"name": "A"},
                    headers={"Idempotency-Key": "k" * 255}).status_code == 201


def test_keys_are_ignored_on_other_methods(api):
    project = api.post("/projects/", {"name": "A"}).json()
    headers = {"Idempotency-Key": "p"}
    api.patch(f"/projects/{project['id']}/", {"name": "B"}, headers=headers)
    second = api.patch(f"/projects/{project['id']}/", {"name": "C"}, headers=headers)
    assert second.json()["name"] == "C"
    assert second.header("Idempotent-Replayed") is None


def test_ten_concurrent_requests_with_one_key_run_once(api, events):
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(
            lambda _: api.post("/projects/", {"name": "A"}, headers={"Idempotency-Key": "race"}),
            range(10)))
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    fresh = [r for r in created if r.header("Idempotent-Replayed") is None]
    assert len(fresh) == 1
    assert all(r.status_code in (201, 409) for r in responses)
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json() == {"detail": "A request with this Idempotency-Key is in progress."}
    assert len(api.get("/projects/").json()) == 1
    assert [e.event for e in events].count("project.created") == 1


class _Clock:
    """A settable clock."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _counting(status: int = 201):
    calls = []

    def produce() -> idempotency.Answer:
        calls.append(1)
        return idempotency.Answer(status, {"Content-Type": "application/json"},
                                  f'{{"n": {len(calls)}}}')
    return produce, calls


def test_a_key_older_than_24_hours_runs_again(aws):
    clock = _Clock(datetime(2026, 6, 1, 12, tzinfo=timezone.utc))
    produce, calls = _counting()
    first = idempotency.run_once("key1", "k", "hash", produce, clock=clock)
    clock.now += timedelta(hours=23, minutes=59)
    assert idempotency.run_once("key1", "k", "hash", produce, clock=clock).body == first.body
    clock.now += timedelta(minutes=2)
    again = idempotency.run_once("key1", "k", "hash", produce, clock=clock)
    assert (len(calls), again.body) == (2, '{"n": 2}')
    assert "Idempotent-Replayed" not in again.headers


def test_an_abandoned_claim_is_taken_over_after_the_lock(aws):
    clock = _Clock(datetime(2026, 6, 1, 12, tzinfo=timezone.utc))
    IdempotencyRecord("key1#k", request_hash="hash", state="in_progress", claim_id="dead",
                      locked_until=clock.now + timedelta(seconds=idempotency.LOCK_SECONDS),
                      expires_at=clock.now + idempotency.TTL).save()
    produce, calls = _counting()
    with pytest.raises(errors.Conflict):
        idempotency.run_once("key1", "k", "hash", produce, clock=clock)
    clock.now += timedelta(seconds=idempotency.LOCK_SECONDS + 1)
    assert idempotency.run_once("key1", "k", "hash", produce, clock=clock).status_code == 201
    assert len(calls) == 1


def test_a_5xx_is_not_stored_so_a_retry_runs_again(aws):
    failing, failures = _counting(500)
    assert idempotency.run_once("key1", "k", "hash", failing).status_code == 500
    produce, calls = _counting()
    assert idempotency.run_once("key1", "k", "hash", produce).status_code == 201
    assert (len(failures), len(calls)) == (1, 1)


def test_records_expire_through_dynamodb_ttl(aws):
    from chalicelib import aws as clients
    from chalicelib.config import settings
    description = clients.client("dynamodb").describe_time_to_live(
        TableName=settings().table_name("idempotency"))["TimeToLiveDescription"]
    assert description["AttributeName"] == "expires_at"
    assert description["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


def test_the_same_body_under_another_content_type_is_a_different_request(api):
    first = api.post("/projects/", body=b'{"name": "A"}',
                     headers={"Idempotency-Key": "ct", "Content-Type": "text/plain"})
    assert first.status_code == 415
    second = api.post("/projects/", body=b'{"name": "A"}',
                      headers={"Idempotency-Key": "ct", "Content-Type": "application/json"})
    assert second.status_code == 400
    assert second.json() == {"detail": "Idempotency-Key was already used with a different request."}
