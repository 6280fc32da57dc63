"""Platform limits never reach a client (SPEC section 1): each at its boundary and one past it.

DynamoDB's 400 KB items (invoice lines, stored Idempotency-Key answers), Lambda's 6 MB
responses (the 5 MiB list guard, UTF-8 without escapes), the 1 MiB request cap. The
data that only a long history would make is written straight into the tables, as the
API's store would have written it; everything is then asked for through the API.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import pages
from chalicelib.domain.vocabulary import MAX_LIST_BYTES
from chalicelib.store import projects as project_store
from chalicelib.store import sessions as session_store
from chalicelib.store.projects import Project
from chalicelib.store.sessions import Session
from tests.api.test_pages import walk

MIB = 1024 * 1024
EMOJI = "\U0001F600"
CJK = "\u6642"  # 時: three bytes in UTF-8
TOO_LARGE = {"detail": "Request body is too large."}
LIST_TOO_LARGE = {"detail": "This list is too large for one response; request it in pages "
                            "with page_size."}


# --- request bodies: 1 MiB ------------------------------------------------------------------

def padded(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes: a project whose unknown field pads it."""
    head, tail = b'{"name": "Big", "padding": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_body_of_exactly_1_mib_is_read(api):
    response = api.post("/projects/", body=padded(MIB), headers={"Content-Type": "application/json"})
    assert response.status_code == 201  # unknown fields are ignored
    assert len(api.get("/projects/").json()) == 1


@pytest.mark.parametrize("method, path", [("POST", "/projects/"), ("POST", "/invoices/"),
                                          ("PATCH", "/projects/{project}/")])
def test_one_byte_more_is_413_and_nothing_is_written(api, events, method, path):
    project = api.post("/projects/", {"name": "Kept"}).json()["id"]
    events.clear()
    response = api.request(method, path.format(project=project), body=padded(MIB + 1),
                           headers={"Content-Type": "application/json",
                                    "Idempotency-Key": "big-1"})
    assert (response.status_code, response.json()) == (413, TOO_LARGE)
    assert [p["name"] for p in api.get("/projects/").json()] == ["Kept"]
    assert events == []


# --- responses: UTF-8, never escaped, never larger than what they echo ----------------------

def test_responses_are_utf8_without_escapes(api):
    response = api.post("/projects/", {"name": f"Café {EMOJI}"})
    assert f'"Café {EMOJI}"' in response.text
    assert "\\u" not in response.text


def test_an_error_that_echoes_input_is_not_larger_than_the_input(api):
    currency = CJK * 300_000  # 900 KB of input
    body = json.dumps({"name": "P", "currency": currency}, ensure_ascii=False).encode()
    response = api.post("/projects/", body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"currency": [f'"{currency}" is not a valid choice.']}
    assert len(response.text.encode()) < len(body) + 100


def test_a_lone_surrogate_in_an_echoed_value_is_no_500(api):
    """JSON may carry a lone surrogate, UTF-8 cannot: the echo keeps it escaped."""
    response = api.post("/webhooks/", body=b'{"event": "\\ud800x", '
                                           b'"target_url": "http://127.0.0.1:9/x"}',
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"event": ['"\ud800x" is not a valid choice.']}
    assert "\\ud800x" in response.text


# --- the 5 MiB guard on complete lists --------------------------------------------------------

def store_sessions(user_id: int, count: int, description: str) -> list[str]:
    """Closed sessions written as the store writes them (a long history, made fast)."""
    project = project_store.build(owner_id=user_id, organisation_id=None, name="Site",
                                  created=datetime.now(timezone.utc))
    project.save()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ids = []
    with Session.batch_write() as batch:
        for n in range(count):
            begin = start + timedelta(minutes=n)
            session = session_store.build(user_id=user_id, project_id=project.id,
                                          start_time=begin, end_time=begin + timedelta(seconds=30),
                                          description=description)
            ids.append(session.id)
            batch.save(session)
    return ids


def test_a_list_over_5_mib_is_refused_and_its_pages_are_whole(api, account):
    # 10,000 four-byte characters: 40 KB a session in UTF-8 JSON; 140 of them pass 5 MiB
    ids = store_sessions(account.user_id, 140, EMOJI * 10_000)
    response = api.get("/sessions/")
    assert (response.status_code, response.json()) == (400, LIST_TOO_LARGE)
    found = walk(api, "/sessions/", 50)
    listed = [s for page in found for s in page]
    assert [s["id"] for s in listed] == list(reversed(ids))  # newest first, each once
    assert all(s["description"] == EMOJI * 10_000 for s in listed)
    sizes = [len(json.dumps(page, ensure_ascii=False).encode()) for page in found]
    assert max(sizes) < MAX_LIST_BYTES


def test_a_list_just_under_5_mib_is_answered_whole(api, account):
    ids = store_sessions(account.user_id, 120, EMOJI * 10_000)
    response = api.get("/sessions/")
    assert response.status_code == 200 and len(response.json()) == len(ids)
    assert len(response.text.encode()) <= MAX_LIST_BYTES


def test_a_list_far_past_the_guard_is_refused_after_reading_a_bounded_part(api, account,
                                                                          monkeypatch):
    """A complete list is not read whole to find out it is too large: reading stops once
    the items read pass the store's budget (scaled down here: 60 sessions of 40 KB make
    2.4 MB, the budget 0.5 MB), and the answer is the same 400."""
    from chalicelib.store import pages as store_pages
    store_sessions(account.user_id, 60, EMOJI * 10_000)
    monkeypatch.setattr(store_pages, "MAX_READ_BYTES", MIB // 2)
    queries = []
    query = store_pages._query
    monkeypatch.setattr(store_pages, "_query", lambda *args: queries.append(args) or query(*args))
    response = api.get("/sessions/")
    assert (response.status_code, response.json()) == (400, LIST_TOO_LARGE)
    # the (empty) running sessions, then one Query page of closed ones (up to 1 MB)
    # already passes 0.5 MB
    assert [source.name for source, *_ in queries] == ["running", "closed"]
    assert len(walk(api, "/sessions/", 25)) == 3  # in pages it is all there


@pytest.mark.parametrize("smallest", [False, True])
def test_no_item_is_stored_larger_than_four_times_its_json(api, account, smallest):
    """Why the store may stop a complete list at 4 × 5 MiB of items read: whatever the
    list, an item's JSON is more than a quarter of its stored size (the worst cases are
    long ASCII names, stored again in a sort key, and nearly empty items)."""
    from chalicelib import aws
    from chalicelib.config import settings
    from chalicelib.store.sizes import item_bytes
    name = "a" if smallest else "A" * 255
    client = api.post("/clients/", {"name": name}).json()
    project = api.post("/projects/", {"name": name, "client_id": client["id"]}).json()
    session = api.post("/sessions/", {"project_id": project["id"],
                                      "start_time": "2026-06-02T09:00:00Z",
                                      "end_time": "2026-06-02T10:00:00Z"}).json()
    invoice = api.post("/invoices/", {"client_id": client["id"], "period_start": "2026-06-01",
                                      "period_end": "2026-06-30"}).json()
    webhook = api.post("/webhooks/", {"event": "session.created",
                                      "target_url": "http://127.0.0.1:9/" + name}).json()
    listed = {"clients": ("/clients/", client), "projects": ("/projects/", project),
              "sessions": ("/sessions/", session), "invoices": ("/invoices/", invoice),
              "webhooks": ("/webhooks/", webhook)}
    dynamodb = aws.client("dynamodb")
    for table, (path, created) in listed.items():
        [shown] = [i for i in api.get(path).json() if i["id"] == created["id"]]
        stored = dynamodb.get_item(TableName=settings().table_name(table),
                                   Key={"id": {"S": created["id"]}})["Item"]
        json_bytes = len(json.dumps(shown, ensure_ascii=False).encode())
        assert item_bytes(stored) < 4 * json_bytes, table
    [line] = api.get(f"/invoices/{invoice['id']}/line_items/").json()
    [stored_line] = dynamodb.scan(TableName=settings().table_name("invoice_lines"))["Items"]
    assert item_bytes(stored_line) < 4 * len(json.dumps(line).encode())


# --- an invoice of 1,000 lines with 255-character names ---------------------------------------

def test_an_invoice_of_1000_long_named_lines(api, account, events):
    client = api.post("/clients/", {"name": "Globex", "hourly_rate": "10.00"}).json()["id"]
    now = datetime.now(timezone.utc)
    start = datetime(2026, 6, 2, 9, tzinfo=timezone.utc)
    with Project.batch_write() as projects, Session.batch_write() as sessions:
        for n in range(1000):
            project = project_store.build(owner_id=account.user_id,
                                          organisation_id=account.organisation_id,
                                          name=f"{n:04d}" + CJK * 251, client_id=client,
                                          created=now)
            project.span_buckets = {1}
            projects.save(project)
            sessions.save(session_store.build(user_id=account.user_id, project_id=project.id,
                                              start_time=start,
                                              end_time=start + timedelta(hours=1)))
    events.clear()
    created = api.post("/invoices/", {"client_id": client, "period_start": "2026-06-01",
                                      "period_end": "2026-06-30"})
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert invoice["subtotal"] == "10000.00"
    lines = api.get(f"/invoices/{invoice['id']}/line_items/").json()
    assert len(lines) == 1000
    assert [line["project_name"][:4] for line in lines] == [f"{n:04d}" for n in range(1000)]
    assert all(len(line["project_name"]) == 255 and line["amount"] == "10.00" for line in lines)
    paged = [line for page in walk(api, f"/invoices/{invoice['id']}/line_items/", 300)
             for line in page]
    assert paged == lines
    assert [e.event for e in events] == ["invoice.created"]


# --- stored Idempotency-Key answers of any size ------------------------------------------------

def test_an_oversized_4xx_is_stored_and_replayed_identically(api):
    currency = CJK * 300_000  # a 900 KB 400, twice an item's limit
    body = json.dumps({"name": "P", "currency": currency}, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "huge-400"}
    first = api.post("/projects/", body=body, headers=headers)
    second = api.post("/projects/", body=body, headers=headers)
    assert first.status_code == second.status_code == 400
    assert second.text == first.text
    assert second.header("Idempotent-Replayed") == "true"


def test_six_thousand_strangers_on_an_invoice_are_a_bounded_400_replayed(api):
    client = api.post("/clients/", {"name": "Globex"}).json()["id"]
    strangers = [str(uuid.uuid4()) for _ in range(6000)]
    body = {"client_id": client, "period_start": "2026-06-01", "period_end": "2026-06-30",
            "project_ids": strangers}
    headers = {"Idempotency-Key": "strangers"}
    first = api.post("/invoices/", body, headers=headers)
    assert first.status_code == 400
    messages = first.json()["project_ids"]
    assert messages[:2] == [f"Project {strangers[0]} does not belong to this client.",
                            f"Project {strangers[1]} does not belong to this client."]
    assert messages[-1] == "And 5900 more projects that do not belong to this client."
    assert len(first.text) < len(json.dumps(body))
    second = api.post("/invoices/", body, headers=headers)
    assert (second.status_code, second.text) == (400, first.text)


def test_a_failed_store_never_leaves_the_claim_in_progress(api, monkeypatch):
    from chalicelib.store import idempotency as store

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB refused the write")

    monkeypatch.setattr(store, "complete", broken)
    first = api.post("/clients/", {"name": "Globex"}, headers={"Idempotency-Key": "k"})
    assert first.status_code == 201  # the client has its answer
    monkeypatch.undo()
    again = api.post("/clients/", {"name": "Globex"}, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201  # not 409 for a minute: the claim was released


def test_a_filtered_page_stops_at_a_query_page_of_1_mb(api, account):
    """140 closed sessions of 40 KB each (5.6 MB): a page of 200 of the closed ones stops
    where DynamoDB's 1 MB page stops, holds one item back, and the pages together are the
    whole list, each under 5 MiB."""
    ids = store_sessions(account.user_id, 140, EMOJI * 10_000)
    first = api.get("/sessions/?active=false&page_size=200")
    assert first.status_code == 200, first.text[:200]
    assert 1 < len(first.json()) < 140 and first.header("Link")
    found = walk(api, "/sessions/?active=false", 200)
    assert [s["id"] for page in found for s in page] == list(reversed(ids))
    assert all(len(json.dumps(page, ensure_ascii=False).encode()) < MAX_LIST_BYTES
               for page in found)


def test_a_page_of_items_whose_json_is_six_times_their_size_still_fits_a_response(api,
                                                                                 account):
    """150 sessions of 10,000 control characters: 10 KB stored, 60 KB of JSON each
    (``\\u0001``), so two 1 MB Query pages would make 9 MB of JSON. A page of 1000 ends
    before 5 MiB instead of answering the 400 that asks for pages."""
    ids = store_sessions(account.user_id, 150, "\u0001" * 10_000)
    first = api.get("/sessions/?page_size=1000")
    assert first.status_code == 200, first.text[:200]
    assert first.header("Link") and 1 < len(first.json()) < 150
    found = walk(api, "/sessions/", 1000)
    assert [s["id"] for page in found for s in page] == list(reversed(ids))
    assert all(len(json.dumps(page).encode()) <= MAX_LIST_BYTES for page in found)
    assert api.get("/sessions/").json() == {"detail": pages.LIST_TOO_LARGE}  # not in pages
