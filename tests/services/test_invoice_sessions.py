"""How invoicing reads sessions: a paged Query of the ``by_project`` index per billed project,
never a Scan, looking back before the window by the project's longest-session bucket
(see the docstring of :mod:`chalicelib.services.invoices`).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pynamodb.connection.base import Connection
from pynamodb.models import Model

from chalicelib.auth import authorizer
from chalicelib.auth.caller import Caller
from chalicelib.services import invoices as service
from chalicelib.store import accounts
from chalicelib.store import invoices as invoice_store
from chalicelib.store import sessions as session_store
from chalicelib.store.sessions import Session
from chalicelib.store.pages import read_all
from tests.api.test_invoices import JUNE, log_june_hours, log_time, new_client, new_project

UTC = timezone.utc
WINDOW_START = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.fixture
def caller(account) -> Caller:
    """The default account's Caller, as the authorizer builds it."""
    return Caller.from_context(authorizer.caller_context(accounts.load_key(account.key_id)))


@pytest.fixture
def queries(monkeypatch):
    """Each call of ``closed_spans`` (project id, earliest start, before, ends after), recorded."""
    calls = []
    original = session_store.closed_spans

    def spy(project_id, earliest_start, before, ends_after):
        calls.append((project_id, earliest_start, before, ends_after))
        return original(project_id, earliest_start, before, ends_after)

    monkeypatch.setattr(session_store, "closed_spans", spy)
    return calls


def invoice(caller: Caller, client_id: str, **fields):
    return service.create_invoice(caller, {"client_id": client_id, **JUNE, **fields})


def test_sessions_are_never_scanned(api, caller, monkeypatch):
    client = new_client(api)
    project = new_project(api, client["id"], "10.00")
    log_june_hours(api, project["id"], 2, 3)
    log_time(api, project["id"], "2026-05-30T00:00:00Z", "2026-06-01T01:00:00Z")

    def no_scan(*args, **kwargs):
        raise AssertionError("invoicing must not Scan")

    monkeypatch.setattr(Model, "scan", classmethod(no_scan))
    monkeypatch.setattr(Connection, "scan", no_scan)
    created = invoice(caller, client["id"])
    assert created.subtotal == "40.00"


@pytest.mark.parametrize("sessions, look_back_hours", [
    ([], 0),                                                       # nothing recorded yet
    ([("2026-06-02T09:00:00Z", "2026-06-02T12:00:00Z")], 4),       # 3 h → 4 h bucket
    ([("2026-06-02T09:00:00Z", "2026-06-02T10:00:00Z"),
      ("2026-05-10T00:00:00Z", "2026-05-12T22:00:00Z")], 128),     # 70 h → 128 h, the longest
    ([("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z")], 1024),    # 720 h → 1024 h
])
def test_look_back_is_the_projects_longest_session_bucket(api, caller, queries, sessions,
                                                           look_back_hours):
    client = new_client(api)
    project = new_project(api, client["id"], "10.00")
    for start, end in sessions:
        log_time(api, project["id"], start, end)
    invoice(caller, client["id"])
    assert queries == [(project["id"], WINDOW_START - timedelta(hours=look_back_hours),
                        WINDOW_END, WINDOW_START)]


def test_one_query_per_billed_project_only(api, caller, queries):
    client = new_client(api)
    billed = [new_project(api, client["id"], "10.00", name=n)["id"] for n in ("A", "B")]
    new_project(api, new_client(api, "Other")["id"], "10.00", name="Other client's")
    new_project(api, None, "10.00", name="No client")
    invoice(caller, client["id"])
    assert sorted(call[0] for call in queries) == sorted(billed)
    queries.clear()
    invoice(caller, client["id"], project_ids=[billed[1]])
    assert [call[0] for call in queries] == [billed[1]]


def test_a_session_exactly_as_long_as_its_bucket_is_found(api, caller):
    client = new_client(api)
    project = new_project(api, client["id"], "1.00")
    # 4 h exactly (bucket 4 h), starting 4 h − 1 s before the window: 1 s is billed.
    log_time(api, project["id"], "2026-05-31T20:00:01Z", "2026-06-01T00:00:01Z")
    created = invoice(caller, client["id"])
    assert [int(line.seconds) for line in read_all(invoice_store.lines_listing(created.id))] == [1]


def test_the_session_query_reads_every_page(api, caller, monkeypatch):
    client = new_client(api)
    project = new_project(api, client["id"], "60.00")
    for day in range(1, 13):
        log_june_hours(api, project["id"], day, 1)
    log_time(api, project["id"], "2026-06-20T09:00:00Z", None)  # running: filtered out
    limits = []
    original_query = Session.by_project.query

    def two_per_page(*args, **kwargs):
        return original_query(*args, **{**kwargs, "page_size": 2})

    original_connection_query = Connection.query

    def count_pages(self, *args, **kwargs):
        if kwargs.get("index_name") == "by_project":
            limits.append(kwargs.get("limit"))
        return original_connection_query(self, *args, **kwargs)

    monkeypatch.setattr(Session.by_project, "query", two_per_page)
    monkeypatch.setattr(Connection, "query", count_pages)
    created = invoice(caller, client["id"])
    assert created.subtotal == "720.00"
    assert len(limits) >= 7 and set(limits) == {2}  # 13 items, 2 a page: every page was read
