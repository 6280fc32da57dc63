"""The pure event derivation: which committed change is which webhook event (SPEC sections 5, 7)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.domain import events as rules
from chalicelib.domain.events import INVOICES, PROJECTS, SESSIONS, derive

T0 = datetime(2026, 6, 26, 9, tzinfo=timezone.utc)
SESSION = {"id": "s1", "user_id": 7, "project_id": "p1", "start_time": T0, "end_time": None,
           "description": "", "started_via": "api", "running_user_id": 7}
PROJECT = {"id": "p1", "owner_id": 7, "organisation_id": 3, "name": "Site", "is_active": False,
           "currency": "USD", "hourly_rate": None, "client_id": None, "created": T0}
INVOICE = {"id": "i1", "organisation_id": 3, "invoice_number": "DMI-202606-0001",
           "client_id": "c1", "status": "draft", "subtotal": "10.00", "tax_rate": "0.00",
           "tax_amount": "0.00", "total": "10.00", "currency": "USD",
           "period_start": "2026-06-01", "period_end": "2026-06-30", "due_date": "2026-07-15",
           "paid_date": None, "notes": "", "created": T0}


def name(table, old, new):
    event = derive(table, old, new)
    return None if event is None else event.name


def closed(session, at=T0 + timedelta(hours=2)):
    changed = {**session, "end_time": at}
    changed.pop("running_user_id", None)
    return changed


# --- sessions -------------------------------------------------------------------------------

def test_a_new_session_is_created_running_or_logged():
    assert name(SESSIONS, None, SESSION) == "session.created"
    assert name(SESSIONS, None, closed(SESSION)) == "session.created"  # logged: no close event


def test_ending_a_running_session_is_its_close_even_with_other_changes():
    assert name(SESSIONS, SESSION, closed(SESSION)) == "session.closed"
    assert name(SESSIONS, SESSION, {**closed(SESSION), "description": "x"}) == "session.closed"


@pytest.mark.parametrize("field, value", [
    ("description", "Design review"), ("project_id", "p2"),
    ("end_time", T0 + timedelta(hours=1)), ("start_time", T0 - timedelta(hours=1)),
    ("started_via", "cli-tui")])
def test_a_visible_change_of_a_closed_session_is_an_update(field, value):
    before = closed(SESSION)
    assert name(SESSIONS, before, {**before, field: value}) == "session.updated"


def test_a_visible_change_of_a_running_session_is_an_update():
    assert name(SESSIONS, SESSION, {**SESSION, "description": "x"}) == "session.updated"


def test_a_change_nobody_sees_is_no_event():
    assert derive(SESSIONS, SESSION, dict(SESSION)) is None  # a PATCH that changed nothing
    assert derive(SESSIONS, closed(SESSION), closed(SESSION)) is None
    assert derive(SESSIONS, SESSION, {**SESSION, "running_user_id": None}) is None


def test_a_deleted_session_is_reported_as_it_was():
    event = derive(SESSIONS, closed(SESSION), None)
    assert (event.name, event.item) == ("session.deleted", closed(SESSION))


def test_session_events_reach_their_owner_only():
    for old, new in ((None, SESSION), (SESSION, closed(SESSION)), (SESSION, None)):
        audience = derive(SESSIONS, old, new).audience
        assert audience == rules.Audience(user_ids=frozenset({7}), organisation_id=None)


# --- projects and invoices ------------------------------------------------------------------

def test_only_a_new_project_is_an_event_and_it_reaches_its_owner():
    event = derive(PROJECTS, None, PROJECT)
    assert (event.name, event.audience.user_ids) == ("project.created", frozenset({7}))
    assert derive(PROJECTS, PROJECT, {**PROJECT, "name": "Renamed"}) is None
    assert derive(PROJECTS, PROJECT, {**PROJECT, "span_buckets": {1, 2}}) is None
    assert derive(PROJECTS, PROJECT, {**PROJECT, "team_id": 4}) is None
    assert derive(PROJECTS, PROJECT, None) is None


@pytest.mark.parametrize("old_status, new_status, expected", [
    ("draft", "sent", "invoice.sent"), ("draft", "paid", "invoice.paid"),
    ("sent", "paid", "invoice.paid"), ("sent", "sent", None), ("paid", "paid", None)])
def test_invoice_status_changes(old_status, new_status, expected):
    old, new = {**INVOICE, "status": old_status}, {**INVOICE, "status": new_status}
    assert name(INVOICES, old, new) == expected


def test_invoice_events_reach_the_organisation():
    event = derive(INVOICES, None, INVOICE)
    assert (event.name, event.audience) == ("invoice.created",
                                            rules.Audience(organisation_id=3))
    assert derive(INVOICES, INVOICE, {**INVOICE, "notes": "x"}) is None
    assert derive(INVOICES, INVOICE, None) is None


def test_other_tables_and_empty_changes_are_no_events():
    assert derive("clients", None, {"id": "c1"}) is None
    assert derive(SESSIONS, None, None) is None


# --- data -----------------------------------------------------------------------------------

def test_event_data_has_exactly_the_contracts_fields():
    session = derive(SESSIONS, SESSION, closed(SESSION))
    assert rules.event_data(session, "Site") == {
        "uuid": "s1", "project_uuid": "p1", "project_name": "Site",
        "start_time": "2026-06-26T09:00:00+00:00", "end_time": "2026-06-26T11:00:00+00:00",
        "description": "", "started_via": "api"}
    assert rules.event_data(derive(PROJECTS, None, PROJECT)) == {
        "uuid": "p1", "name": "Site", "is_active": False, "currency": "USD",
        "hourly_rate": None, "client_uuid": None}
    data = rules.event_data(derive(INVOICES, None, INVOICE))
    assert data["uuid"] == "i1" and data["client_uuid"] == "c1" and data["paid_date"] is None
    assert set(data) == {"uuid", "invoice_number", "client_uuid", "status", "subtotal",
                         "tax_rate", "tax_amount", "total", "currency", "period_start",
                         "period_end", "due_date", "paid_date"}


# --- a session's whole life -----------------------------------------------------------------

OPERATIONS = st.lists(st.sampled_from(["describe", "close", "move_end", "reassign", "noop",
                                       "delete"]), max_size=12)


def _apply(state, operation, step):
    """One API change of a session's item (None once deleted): what the store would write."""
    if state is None:
        return None
    if operation == "describe":
        return {**state, "description": f"d{step}"}
    if operation == "close":
        return closed(state) if state["end_time"] is None else state
    if operation == "move_end":
        if state["end_time"] is None:
            return closed(state, T0 + timedelta(minutes=step + 1))
        return {**state, "end_time": T0 + timedelta(minutes=step + 1)}
    if operation == "reassign":
        return {**state, "project_id": f"p{step}"}
    if operation == "delete":
        return None
    return dict(state)


@settings(max_examples=300, deadline=None)
@given(running=st.booleans(), operations=OPERATIONS)
def test_a_sessions_life_is_created_once_closed_at_most_once_and_each_step_its_event(running, operations):
    first = dict(SESSION) if running else closed(SESSION)
    changes = [(None, first)]
    state = first
    for step, operation in enumerate(operations):
        new = _apply(state, operation, step)
        if state is not None:
            changes.append((state, new))
        state = new
    names = [e.name for e in (derive(SESSIONS, old, new) for old, new in changes) if e]
    assert names[0] == "session.created" and names.count("session.created") == 1
    ever_closed = running and any(new is not None and new["end_time"] is not None
                                  for _, new in changes[1:])
    assert names.count("session.closed") == (1 if ever_closed else 0)
    assert names.count("session.deleted") == (1 if state is None else 0)
    if state is None:
        assert names[-1] == "session.deleted"
    for old, new in changes[1:]:  # each step of its life: which change is which event
        if new is None:
            expected = "session.deleted"
        elif old["end_time"] is None and new["end_time"] is not None:
            expected = "session.closed"  # a running session ended, whatever else changed
        elif new != old:  # every change _apply makes is to a field a client sees
            expected = "session.updated"
        else:
            expected = None
        assert name(SESSIONS, old, new) == expected, (old, new)
