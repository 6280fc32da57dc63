"""``/invoices/`` through the gateway: generation from tracked time, validation, lifecycle,
filters and tenancy (SPEC sections 1, 3, 4 "Invoices", 5 and 7).

The pure arithmetic (clipping, merge/add, rounding) is property-tested in
``tests/domain/test_invoicing.py``; these tests check that the API feeds it the right
sessions, rates and projects, stores the result and serves it with the contract's shapes.
"""
from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from chalicelib.services import accounts
from tests.conftest import ApiClient

JUNE = {"period_start": "2026-06-01", "period_end": "2026-06-30"}
INVOICE_KEYS = {"id", "invoice_number", "client_id", "status", "subtotal", "tax_rate",
                "tax_amount", "total", "currency", "period_start", "period_end", "due_date",
                "paid_date", "created"}
LINE_KEYS = {"project_id", "project_name", "seconds", "hours", "rate", "amount"}
EVENT_DATA_KEYS = {"uuid", "invoice_number", "client_uuid", "status", "subtotal", "tax_rate",
                   "tax_amount", "total", "currency", "period_start", "period_end", "due_date",
                   "paid_date"}
NOT_FOUND = {"detail": "Not found."}
NO_ORGANISATION = {"detail": "You must belong to an organisation to create invoices."}
NOT_SENDABLE = {"detail": "Only draft or sent invoices can be sent."}
CREATED_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# --- helpers (also used by test_invoice_numbering.py) ---------------------------------

def ok(response, status: int = 201):
    """The JSON body of a response that must have ``status``."""
    assert response.status_code == status, response.text
    return response.json()


def new_client(api: ApiClient, name: str = "Acme", **fields) -> dict:
    return ok(api.post("/clients/", {"name": name, **fields}))


def new_project(api: ApiClient, client_id: str | None = None, rate: str | None = None,
                name: str = "Website") -> dict:
    return ok(api.post("/projects/", {"name": name, "client_id": client_id, "hourly_rate": rate}))


def log_time(api: ApiClient, project_id: str, start: str, end: str | None) -> dict:
    return ok(api.post("/sessions/", {"project_id": project_id, "start_time": start,
                                      "end_time": end}))


def log_june_hours(api: ApiClient, project_id: str, day: int, hours: int) -> dict:
    """A closed session of ``hours`` from 09:00Z on June ``day`` 2026."""
    return log_time(api, project_id, f"2026-06-{day:02d}T09:00:00Z",
                    f"2026-06-{day:02d}T{9 + hours:02d}:00:00Z")


def create_invoice(api: ApiClient, client_id: str, **fields):
    return api.post("/invoices/", {"client_id": client_id, **JUNE, **fields})


def utc_months_around(call) -> tuple[object, set[str]]:
    """Run ``call`` and return its result with the UTC ``YYYYMM`` months it may have seen."""
    before = datetime.now(timezone.utc)
    result = call()
    after = datetime.now(timezone.utc)
    return result, {f"{before:%Y%m}", f"{after:%Y%m}"}


def utc_today_around(call) -> tuple[object, set[str]]:
    before = datetime.now(timezone.utc).date()
    result = call()
    after = datetime.now(timezone.utc).date()
    return result, {before.isoformat(), after.isoformat()}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def billed(api):
    """The reference's setup: a EUR client, a 120.00 project of it, 15 closed hours in June 2026."""
    client = new_client(api, currency="eur")
    project = new_project(api, client["id"], "120.00")
    log_june_hours(api, project["id"], 2, 8)
    log_june_hours(api, project["id"], 3, 7)
    return client, project


@pytest.fixture
def other_org(gateway, make_account) -> ApiClient:
    """A write client of a second organisation, "Vance Refrigeration"."""
    other = make_account("Vance Refrigeration", email="bob@vance.example")
    return ApiClient(gateway, other.token)


@pytest.fixture
def no_org(gateway, make_account) -> ApiClient:
    """A write client of a Pro user who belongs to no organisation."""
    return ApiClient(gateway, make_account(None, email="solo@example.com").token)


def teammate_on(gateway, make_account, account, project_id: str) -> ApiClient:
    """A second user of the account's organisation, in a team that owns ``project_id``."""
    other = make_account(organisation_id=account.organisation_id, email="jim@example.com")
    team = accounts.create_team(account.organisation_id, "Sales")
    accounts.add_member(int(team.id), other.user_id)
    accounts.assign_project(project_id, int(team.id))
    return ApiClient(gateway, other.token)


# --- the reference's example ------------------------------------------------------------

def test_reference_example_invoice(api, billed):
    client, _ = billed
    response, months = utc_months_around(
        lambda: create_invoice(api, client["id"], tax_rate="21.00"))
    body = ok(response)
    assert set(body) == INVOICE_KEYS  # exactly the documented fields: no notes, no line_items
    assert {k: body[k] for k in INVOICE_KEYS - {"id", "invoice_number", "created"}} == {
        "client_id": client["id"], "status": "draft", "subtotal": "1800.00",
        "tax_rate": "21.00", "tax_amount": "378.00", "total": "2178.00", "currency": "EUR",
        "period_start": "2026-06-01", "period_end": "2026-06-30", "due_date": "2026-07-15",
        "paid_date": None}
    assert str(uuid.UUID(body["id"], version=4)) == body["id"]
    match = re.fullmatch(r"DMI-(\d{6})-0001", body["invoice_number"])
    assert match and match.group(1) in months
    assert CREATED_FORMAT.match(body["created"])


def test_reference_example_line_items(api, billed):
    client, project = billed
    invoice = ok(create_invoice(api, client["id"], tax_rate="21.00"))
    for path in (f"/invoices/{invoice['id']}/line_items/", f"/invoices/{invoice['id']}/line_items"):
        assert ok(api.get(path), 200) == [{
            "project_id": project["id"], "project_name": "Website", "seconds": 54000,
            "hours": "15.00", "rate": "120.00", "amount": "1800.00"}]


def test_get_returns_the_stored_invoice(api, billed):
    invoice = ok(create_invoice(api, billed[0]["id"], tax_rate=21))
    assert invoice["tax_rate"] == "21.00"
    assert ok(api.get(f"/invoices/{invoice['id']}/"), 200) == invoice
    assert ok(api.get(f"/invoices/{invoice['id'].upper()}"), 200) == invoice


def test_notes_and_read_only_fields_are_accepted_but_not_shown(api, billed):
    response = create_invoice(api, billed[0]["id"], notes="  Thanks!  ", status="paid",
                              invoice_number="X-1", subtotal="1.00", id=str(uuid.uuid4()),
                              line_items=[], paid_date="2026-06-01", unknown=1)
    body = ok(response)
    assert set(body) == INVOICE_KEYS
    assert (body["status"], body["subtotal"], body["paid_date"]) == ("draft", "1800.00", None)
    assert body["invoice_number"].endswith("-0001")
    assert len(ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)) == 1


# --- which projects and rates --------------------------------------------------------------

def test_rate_falls_back_from_project_to_client_to_zero(api):
    paying = new_client(api, "Paying", hourly_rate="80.00")
    own_rate = new_project(api, paying["id"], "100.00", name="A own rate")
    client_rate = new_project(api, paying["id"], None, name="B client rate")
    log_june_hours(api, own_rate["id"], 2, 2)
    log_june_hours(api, client_rate["id"], 3, 3)
    free = new_client(api, "Free")
    no_rate = new_project(api, free["id"], None, name="C no rate")
    log_june_hours(api, no_rate["id"], 4, 4)

    first = ok(create_invoice(api, paying["id"]))
    assert (first["subtotal"], first["tax_amount"], first["total"]) == ("440.00", "0.00", "440.00")
    assert ok(api.get(f"/invoices/{first['id']}/line_items/"), 200) == [
        {"project_id": own_rate["id"], "project_name": "A own rate", "seconds": 7200,
         "hours": "2.00", "rate": "100.00", "amount": "200.00"},
        {"project_id": client_rate["id"], "project_name": "B client rate", "seconds": 10800,
         "hours": "3.00", "rate": "80.00", "amount": "240.00"}]

    second = ok(create_invoice(api, free["id"], tax_rate="10.00"))
    assert (second["subtotal"], second["tax_amount"], second["total"]) == ("0.00", "0.00", "0.00")
    assert ok(api.get(f"/invoices/{second['id']}/line_items/"), 200) == [
        {"project_id": no_rate["id"], "project_name": "C no rate", "seconds": 14400,
         "hours": "4.00", "rate": "0.00", "amount": "0.00"}]


def test_rates_read_at_creation_time(api):
    client = new_client(api, hourly_rate="50.00")
    project = new_project(api, client["id"], None)
    log_june_hours(api, project["id"], 2, 1)
    before = ok(create_invoice(api, client["id"]))
    ok(api.patch(f"/projects/{project['id']}/", {"hourly_rate": "70.00"}), 200)
    after = ok(create_invoice(api, client["id"]))
    assert (before["subtotal"], after["subtotal"]) == ("50.00", "70.00")
    # a stored invoice does not change when rates change later
    assert ok(api.get(f"/invoices/{before['id']}/"), 200)["subtotal"] == "50.00"


def test_several_projects_one_line_each_in_name_order(api):
    client = new_client(api)
    zebra = new_project(api, client["id"], "10.00", name="zebra")
    alpha = new_project(api, client["id"], "20.00", name="Alpha")
    idle = new_project(api, client["id"], "30.00", name="Idle")
    unrelated = new_project(api, None, "99.00", name="Unbilled")
    log_june_hours(api, zebra["id"], 2, 1)
    log_june_hours(api, zebra["id"], 5, 2)
    log_june_hours(api, alpha["id"], 3, 1)
    log_june_hours(api, unrelated["id"], 3, 5)
    log_time(api, idle["id"], "2026-07-02T09:00:00Z", "2026-07-02T10:00:00Z")  # outside June

    invoice = ok(create_invoice(api, client["id"], tax_rate="7.50"))
    lines = ok(api.get(f"/invoices/{invoice['id']}/line_items/"), 200)
    assert [(line["project_name"], line["seconds"], line["amount"]) for line in lines] == [
        ("Alpha", 3600, "20.00"), ("zebra", 10800, "30.00")]
    assert all(set(line) == LINE_KEYS for line in lines)
    # 50.00 × 7.5 % = 3.75
    assert (invoice["subtotal"], invoice["tax_amount"], invoice["total"]) == (
        "50.00", "3.75", "53.75")


def test_line_rounding_is_half_up_through_the_api(api):
    client = new_client(api)
    project = new_project(api, client["id"], "0.20")
    log_time(api, project["id"], "2026-06-02T09:00:00Z", "2026-06-02T09:01:30Z")  # 90 s
    invoice = ok(create_invoice(api, client["id"], tax_rate="50.00"))
    # 90 s × 0.20 / 3600 = 0.005 → 0.01; 90 / 3600 h = 0.025 → 0.03; tax 0.005 → 0.01
    assert ok(api.get(f"/invoices/{invoice['id']}/line_items/"), 200) == [{
        "project_id": project["id"], "project_name": "Website", "seconds": 90, "hours": "0.03",
        "rate": "0.20", "amount": "0.01"}]
    assert (invoice["subtotal"], invoice["tax_amount"], invoice["total"]) == (
        "0.01", "0.01", "0.02")


def test_project_ids_restricts_the_billed_projects(api):
    client = new_client(api)
    first = new_project(api, client["id"], "10.00", name="First")
    second = new_project(api, client["id"], "20.00", name="Second")
    log_june_hours(api, first["id"], 2, 1)
    log_june_hours(api, second["id"], 2, 1)

    only_second = ok(create_invoice(api, client["id"], project_ids=[second["id"].upper()]))
    assert only_second["subtotal"] == "20.00"
    assert [line["project_id"] for line in
            ok(api.get(f"/invoices/{only_second['id']}/line_items/"), 200)] == [second["id"]]

    both = ok(create_invoice(api, client["id"], project_ids=[second["id"], first["id"],
                                                             second["id"]]))
    assert both["subtotal"] == "30.00"
    assert [line["project_name"] for line in
            ok(api.get(f"/invoices/{both['id']}/line_items/"), 200)] == ["First", "Second"]


def test_project_ids_of_another_client_or_unknown_are_rejected(api):
    client = new_client(api, "Mine")
    other_client = new_client(api, "Theirs")
    own = new_project(api, client["id"], "10.00", name="Own")
    foreign = new_project(api, other_client["id"], "10.00", name="Foreign")
    loose = new_project(api, None, "10.00", name="Loose")
    unknown = str(uuid.uuid4())
    response = create_invoice(api, client["id"],
                              project_ids=[own["id"], foreign["id"], unknown, loose["id"]])
    assert response.status_code == 400
    assert response.json() == {"project_ids": [
        f"Project {foreign['id']} does not belong to this client.",
        f"Project {unknown} does not belong to this client.",
        f"Project {loose['id']} does not belong to this client."]}
    assert ok(api.get("/invoices/"), 200) == []
    assert ok(create_invoice(api, client["id"]))["invoice_number"].endswith("-0001")


def test_project_of_another_organisation_is_rejected(api, other_org):
    client = new_client(api)
    theirs = new_project(other_org, new_client(other_org)["id"], "10.00")
    response = create_invoice(api, client["id"], project_ids=[theirs["id"]])
    assert response.status_code == 400
    assert response.json() == {
        "project_ids": [f"Project {theirs['id']} does not belong to this client."]}
    assert ok(api.get("/invoices/"), 200) == []


def test_client_of_another_organisation_is_not_found(api, other_org):
    theirs = new_client(other_org)
    for client_id in (theirs["id"], str(uuid.uuid4())):
        response = create_invoice(api, client_id)
        assert response.status_code == 400
        assert response.json() == {"client_id": ["Client not found."]}
    assert ok(api.get("/invoices/"), 200) == []
    assert ok(other_org.get("/invoices/"), 200) == []


# --- body validation: exact errors, nothing written, no number consumed ---------------------

CLIENT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"  # replaced by the real client id below
REQUIRED = ["This field is required."]


@pytest.mark.parametrize("body, errors", [
    ({"period_end": "2026-06-30"}, {"period_start": REQUIRED, "client_id": REQUIRED}),
    ({}, {"client_id": REQUIRED, "period_start": REQUIRED, "period_end": REQUIRED}),
    ({"client_id": CLIENT}, {"period_start": REQUIRED, "period_end": REQUIRED}),
    ({"client_id": None, **JUNE}, {"client_id": ["This field may not be null."]}),
    ({"client_id": "nope", **JUNE}, {"client_id": ["Must be a valid UUID."]}),
    ({"client_id": CLIENT, "period_start": "2026-6-1", "period_end": "30/06/2026"},
     {"period_start": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
      "period_end": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
    ({"client_id": CLIENT, "period_start": "2026-06-30", "period_end": "2026-06-01"},
     {"period_end": ["Period end must not be before period start."]}),
    ({"client_id": CLIENT, **JUNE, "tax_rate": "100.01"},
     {"tax_rate": ["Ensure this value is less than or equal to 100."]}),
    ({"client_id": CLIENT, **JUNE, "tax_rate": "-1"},
     {"tax_rate": ["Ensure this value is greater than or equal to 0."]}),
    ({"client_id": CLIENT, **JUNE, "tax_rate": "21.005"},
     {"tax_rate": ["Ensure that there are no more than 2 decimal places."]}),
    ({"client_id": CLIENT, **JUNE, "tax_rate": "abc"},
     {"tax_rate": ["A valid number is required."]}),
    ({"client_id": CLIENT, **JUNE, "overlap_strategy": "sum"},
     {"overlap_strategy": ['"sum" is not a valid choice.']}),
    ({"client_id": CLIENT, **JUNE, "project_ids": "abc"},
     {"project_ids": ['Expected a list of items but got type "str".']}),
    ({"client_id": CLIENT, **JUNE, "project_ids": ["not-a-uuid"]},
     {"project_ids": ["Must be a valid UUID."]}),
    ({"client_id": "nope", "period_start": "2026-06-30", "period_end": "2026-06-01",
      "tax_rate": "101", "overlap_strategy": "x"},
     {"client_id": ["Must be a valid UUID."], "tax_rate": ["Ensure this value is less than or equal to 100."],
      "overlap_strategy": ['"x" is not a valid choice.']}),
], ids=["reference-example", "empty", "no-period", "null-client", "bad-client-uuid",
        "bad-dates", "end-before-start", "tax-over-100", "tax-negative", "tax-3-decimals",
        "tax-not-a-number", "bad-overlap", "project-ids-not-list", "project-ids-bad-item",
        "all-together"])
def test_invalid_body_is_rejected_without_writing_or_numbering(api, billed, events, body, errors):
    body = {k: billed[0]["id"] if v == CLIENT else v for k, v in body.items()}
    response = api.post("/invoices/", body)
    assert response.status_code == 400
    assert response.json() == errors
    assert ok(api.get("/invoices/"), 200) == []
    assert [e.event for e in events if e.event.startswith("invoice.")] == []
    assert ok(create_invoice(api, billed[0]["id"]))["invoice_number"].endswith("-0001")


@pytest.mark.parametrize("tax_rate, shown, tax", [
    ("100", "100.00", "1800.00"), (0, "0.00", "0.00"), ("0.5", "0.50", "9.00"),
    (12.25, "12.25", "220.50")])
def test_tax_rate_boundaries_and_number_input(api, billed, tax_rate, shown, tax):
    invoice = ok(create_invoice(api, billed[0]["id"], tax_rate=tax_rate))
    assert (invoice["tax_rate"], invoice["tax_amount"]) == (shown, tax)


def test_tax_rate_defaults_to_zero(api, billed):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    assert (invoice["tax_rate"], invoice["tax_amount"], invoice["total"]) == (
        "0.00", "0.00", "1800.00")


# --- which sessions -------------------------------------------------------------------------

def test_empty_period_gives_a_zero_invoice(api, billed):
    client, _ = billed
    body = ok(api.post("/invoices/", {"client_id": client["id"], "period_start": "2026-08-01",
                                      "period_end": "2026-08-31", "tax_rate": "21.00"}))
    assert (body["subtotal"], body["tax_amount"], body["total"]) == ("0.00", "0.00", "0.00")
    assert (body["status"], body["due_date"]) == ("draft", "2026-09-15")
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200) == []


def test_client_without_projects_gives_a_zero_invoice(api):
    body = ok(create_invoice(api, new_client(api)["id"]))
    assert (body["subtotal"], body["total"]) == ("0.00", "0.00")
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200) == []


def test_single_day_period_bills_that_whole_day(api):
    client = new_client(api)
    project = new_project(api, client["id"], "60.00")
    log_time(api, project["id"], "2026-06-10T00:00:00Z", "2026-06-11T00:00:00Z")
    log_time(api, project["id"], "2026-06-11T00:00:00Z", "2026-06-11T01:00:00Z")
    body = ok(api.post("/invoices/", {"client_id": client["id"], "period_start": "2026-06-10",
                                      "period_end": "2026-06-10"}))
    assert (body["subtotal"], body["due_date"]) == ("1440.00", "2026-06-25")


def test_running_sessions_are_not_billed(api):
    client = new_client(api)
    project = new_project(api, client["id"], "100.00")
    log_june_hours(api, project["id"], 2, 1)
    log_time(api, project["id"], "2026-06-03T09:00:00Z", None)  # running since June 3
    body = ok(create_invoice(api, client["id"]))
    assert body["subtotal"] == "100.00"
    assert [line["seconds"] for line in
            ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)] == [3600]


def test_sessions_crossing_the_window_edges_are_clipped(api):
    client = new_client(api)
    project = new_project(api, client["id"], "100.00")
    log_time(api, project["id"], "2026-05-31T22:00:00Z", "2026-06-01T02:00:00Z")  # 2 h inside
    log_time(api, project["id"], "2026-06-30T23:00:00Z", "2026-07-01T03:00:00Z")  # 1 h inside
    log_time(api, project["id"], "2026-05-31T20:00:00Z", "2026-06-01T00:00:00Z")  # ends at start
    log_time(api, project["id"], "2026-07-01T00:00:00Z", "2026-07-01T05:00:00Z")  # starts at end
    log_time(api, project["id"], "2026-06-01T01:00:00+02:00", "2026-06-01T03:00:00+02:00")  # 1 h
    body = ok(create_invoice(api, client["id"]))
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)[0]["seconds"] == 4 * 3600
    assert body["subtotal"] == "400.00"


def test_a_session_spanning_the_whole_window_bills_the_window(api):
    client = new_client(api)
    project = new_project(api, client["id"], "1.00")
    log_time(api, project["id"], "2026-05-20T00:00:00Z", "2026-07-10T00:00:00Z")
    body = ok(create_invoice(api, client["id"]))
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)[0]["seconds"] == 30 * 86400
    assert body["subtotal"] == "720.00"


@pytest.mark.parametrize("start, billed_hours", [
    ("2026-05-29T00:00:00Z", 5),   # 3 days before the window, ends June 1 05:00
    ("2026-05-02T00:00:00Z", 7),   # 30 days before, ends June 1 07:00
], ids=["3-days-before", "30-days-before"])
def test_long_sessions_started_before_the_window_are_found(api, start, billed_hours):
    client = new_client(api)
    project = new_project(api, client["id"], "10.00")
    log_june_hours(api, project["id"], 20, 1)  # a short session too: the longest one must count
    log_time(api, project["id"], start, f"2026-06-01T{billed_hours:02d}:00:00Z")
    body = ok(create_invoice(api, client["id"]))
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)[0]["seconds"] == \
        (billed_hours + 1) * 3600


def test_long_session_closed_later_is_found(api):
    client = new_client(api)
    project = new_project(api, client["id"], "10.00")
    running = log_time(api, project["id"], "2026-05-25T00:00:00Z", None)
    ok(api.patch(f"/sessions/{running['id']}/", {"end_time": "2026-06-01T03:00:00Z"}), 200)
    body = ok(create_invoice(api, client["id"]))
    assert body["subtotal"] == "30.00"


def test_long_session_moved_onto_the_project_is_found(api):
    client = new_client(api)
    project = new_project(api, client["id"], "10.00", name="Billed")
    elsewhere = new_project(api, None, None, name="Elsewhere")
    moved = log_time(api, elsewhere["id"], "2026-05-20T00:00:00Z", "2026-06-01T02:00:00Z")
    ok(api.patch(f"/sessions/{moved['id']}/", {"project_id": project["id"]}), 200)
    body = ok(create_invoice(api, client["id"]))
    assert body["subtotal"] == "20.00"


def test_other_organisations_sessions_are_never_counted(api, other_org):
    client = new_client(api)
    project = new_project(api, client["id"], "100.00")
    log_june_hours(api, project["id"], 2, 1)
    # the other organisation cannot link its project to our client...
    response = other_org.post("/projects/", {"name": "Sneaky", "client_id": client["id"],
                                             "hourly_rate": "1.00"})
    assert (response.status_code, response.json()) == (400, {"client_id": ["Client not found."]})
    # ...nor log time on our project
    response = other_org.post("/sessions/", {"project_id": project["id"],
                                             "start_time": "2026-06-03T09:00:00Z",
                                             "end_time": "2026-06-03T17:00:00Z"})
    assert (response.status_code, response.json()) == (400, {"project_id": ["Project not found."]})
    theirs = new_project(other_org, new_client(other_org)["id"], "100.00")
    log_june_hours(other_org, theirs["id"], 2, 8)

    body = ok(create_invoice(api, client["id"]))
    assert body["subtotal"] == "100.00"
    assert [line["project_id"] for line in
            ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)] == [project["id"]]


def test_sessions_of_a_teammate_on_the_clients_project_are_billed(api, gateway, make_account,
                                                                  account):
    client = new_client(api)
    project = new_project(api, client["id"], "100.00")
    log_june_hours(api, project["id"], 2, 1)
    jim = teammate_on(gateway, make_account, account, project["id"])
    log_june_hours(jim, project["id"], 3, 2)
    assert len(ok(api.get("/sessions/"), 200)) == 1  # sessions stay private to their user
    body = ok(create_invoice(api, client["id"]))
    assert body["subtotal"] == "300.00"
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)[0]["seconds"] == 3 * 3600


@pytest.mark.parametrize("strategy, seconds, subtotal", [
    (None, 4 * 3600, "480.00"), ("add", 4 * 3600, "480.00"), ("merge", 3 * 3600, "360.00")])
def test_overlapping_sessions_of_two_users_add_or_merge(api, gateway, make_account, account,
                                                         strategy, seconds, subtotal):
    client = new_client(api)
    project = new_project(api, client["id"], "120.00")
    jim = teammate_on(gateway, make_account, account, project["id"])
    log_time(api, project["id"], "2026-06-02T09:00:00Z", "2026-06-02T11:00:00Z")
    log_time(jim, project["id"], "2026-06-02T10:00:00Z", "2026-06-02T12:00:00Z")
    extra = {} if strategy is None else {"overlap_strategy": strategy}
    body = ok(create_invoice(api, client["id"], **extra))
    assert body["subtotal"] == subtotal
    assert ok(api.get(f"/invoices/{body['id']}/line_items/"), 200)[0]["seconds"] == seconds


def test_merge_counts_overlap_per_project_only(api):
    client = new_client(api)
    first = new_project(api, client["id"], "10.00", name="First")
    second = new_project(api, client["id"], "10.00", name="Second")
    log_time(api, first["id"], "2026-06-02T09:00:00Z", "2026-06-02T11:00:00Z")
    log_time(api, second["id"], "2026-06-02T09:00:00Z", "2026-06-02T11:00:00Z")
    body = ok(create_invoice(api, client["id"], overlap_strategy="merge"))
    assert body["subtotal"] == "40.00"


# --- lifecycle ------------------------------------------------------------------------------

def paid_events(events) -> list:
    return [e for e in events if e.event == "invoice.paid"]


def test_draft_sent_paid_lifecycle(api, billed, events):
    invoice = ok(create_invoice(api, billed[0]["id"], tax_rate="21.00"))
    path = f"/invoices/{invoice['id']}"

    sent = ok(api.post(f"{path}/send/"), 200)
    assert sent == {**invoice, "status": "sent"}
    assert ok(api.post(f"{path}/send"), 200) == sent  # sent → sent is allowed
    assert ok(api.get(f"{path}/"), 200)["status"] == "sent"

    response, today = utc_today_around(lambda: api.post(f"{path}/mark_paid/"))
    paid = ok(response, 200)
    assert paid["paid_date"] in today
    assert paid == {**invoice, "status": "paid", "paid_date": paid["paid_date"]}

    assert ok(api.post(f"{path}/mark_paid"), 200) == paid  # no-op, same paid_date
    assert ok(api.get(f"{path}/"), 200) == paid
    assert len(paid_events(events)) == 1

    response = api.post(f"{path}/send/")
    assert (response.status_code, response.json()) == (400, NOT_SENDABLE)
    assert ok(api.get(f"{path}/"), 200) == paid
    assert [e.event for e in events if e.event.startswith("invoice.")] == [
        "invoice.created", "invoice.sent", "invoice.paid"]


def test_draft_can_be_marked_paid_directly(api, billed, events):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    paid = ok(api.post(f"/invoices/{invoice['id']}/mark_paid/"), 200)
    assert paid["status"] == "paid" and paid["paid_date"] is not None
    [event] = paid_events(events)
    assert event.data == {"uuid": invoice["id"], "invoice_number": invoice["invoice_number"],
                          "client_uuid": invoice["client_id"], "status": "paid",
                          "subtotal": "1800.00", "tax_rate": "0.00", "tax_amount": "0.00",
                          "total": "1800.00", "currency": "EUR", "period_start": "2026-06-01",
                          "period_end": "2026-06-30", "due_date": "2026-07-15",
                          "paid_date": paid["paid_date"]}
    assert event.audience.organisation_id == api_org(api)


def api_org(api: ApiClient) -> int:
    return ok(api.get("/me/"), 200)["organisation_id"]


def test_concurrent_mark_paid_transitions_once(api, billed, events):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: api.post(f"/invoices/{invoice['id']}/mark_paid/"),
                                  range(10)))
    bodies = [ok(r, 200) for r in responses]
    assert {b["status"] for b in bodies} == {"paid"}
    assert len({b["paid_date"] for b in bodies}) == 1
    assert len(paid_events(events)) == 1


def test_concurrent_send_and_mark_paid_end_paid(api, billed, events):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    path = f"/invoices/{invoice['id']}"
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(
            lambda i: api.post(f"{path}/send/" if i % 2 else f"{path}/mark_paid/"), range(10)))
    for i, response in enumerate(responses):
        if i % 2 == 0:
            assert ok(response, 200)["status"] == "paid"
        else:  # a send either ran before the payment or was refused after it
            assert (response.status_code, response.json()["status"] if response.status_code == 200
                    else response.json()) in ((200, "sent"), (400, NOT_SENDABLE))
    assert ok(api.get(f"{path}/"), 200)["status"] == "paid"
    assert len(paid_events(events)) == 1


def test_invoice_created_fires_once_per_create_with_the_webhook_data(api, billed, events,
                                                                    account):
    first = ok(create_invoice(api, billed[0]["id"], tax_rate="21.00"))
    second = ok(create_invoice(api, billed[0]["id"]))
    created = [e for e in events if e.event == "invoice.created"]
    assert len(created) == 2
    for event, body in zip(created, (first, second)):
        assert set(event.data) == EVENT_DATA_KEYS
        assert event.data == {
            "uuid": body["id"], "invoice_number": body["invoice_number"],
            "client_uuid": body["client_id"], "status": "draft", "subtotal": body["subtotal"],
            "tax_rate": body["tax_rate"], "tax_amount": body["tax_amount"],
            "total": body["total"], "currency": body["currency"],
            "period_start": "2026-06-01", "period_end": "2026-06-30",
            "due_date": "2026-07-15", "paid_date": None}
        assert event.audience.organisation_id == account.organisation_id
        assert isinstance(event.occurred_at, int)
        created_at = datetime.strptime(body["created"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=timezone.utc)
        assert abs(event.occurred_at - created_at.timestamp()) <= 1


def test_send_fires_invoice_sent_once(api, billed, events):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    ok(api.post(f"/invoices/{invoice['id']}/send/"), 200)
    ok(api.post(f"/invoices/{invoice['id']}/send/"), 200)  # sent → sent changes nothing
    assert [e.event for e in events if e.event.startswith("invoice.")] == [
        "invoice.created", "invoice.sent"]
    assert events[-1].data["status"] == "sent"


def test_unknown_invoice_transitions_are_404(api):
    for action in ("send", "mark_paid"):
        response = api.post(f"/invoices/{uuid.uuid4()}/{action}/")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


# --- list, filters and order -----------------------------------------------------------------

def test_list_is_newest_first_with_filters(api):
    acme, globex = new_client(api, "Acme"), new_client(api, "Globex")
    a1 = ok(create_invoice(api, acme["id"]))
    g1 = ok(create_invoice(api, globex["id"]))
    a2 = ok(create_invoice(api, acme["id"]))
    g2 = ok(create_invoice(api, globex["id"]))
    ok(api.post(f"/invoices/{g1['id']}/send/"), 200)
    ok(api.post(f"/invoices/{a2['id']}/mark_paid/"), 200)

    def ids(query: str = "") -> list[str]:
        return [i["id"] for i in ok(api.get(f"/invoices/{query}"), 200)]

    assert ids() == [g2["id"], a2["id"], g1["id"], a1["id"]]
    assert ids("?status=draft") == [g2["id"], a1["id"]]
    assert ids("?status=sent") == [g1["id"]]
    assert ids("?status=paid") == [a2["id"]]
    assert ids(f"?client_id={acme['id']}") == [a2["id"], a1["id"]]
    assert ids(f"?client_id={globex['id'].upper()}") == [g2["id"], g1["id"]]
    assert ids(f"?client_id={acme['id']}&status=draft") == [a1["id"]]
    assert ids(f"?client_id={uuid.uuid4()}") == []
    listed = ok(api.get("/invoices"), 200)
    assert all(set(i) == INVOICE_KEYS for i in listed)
    assert listed[1] == ok(api.get(f"/invoices/{a2['id']}/"), 200)


@pytest.mark.parametrize("query, errors", [
    ("?status=x", {"status": ['"x" is not a valid choice.']}),
    ("?status=DRAFT", {"status": ['"DRAFT" is not a valid choice.']}),
    ("?client_id=abc", {"client_id": ["Must be a valid UUID."]}),
    ("?status=x&client_id=abc", {"status": ['"x" is not a valid choice.'],
                                 "client_id": ["Must be a valid UUID."]}),
])
def test_bad_list_filters_are_400(api, query, errors):
    response = api.get(f"/invoices/{query}")
    assert (response.status_code, response.json()) == (400, errors)


# --- tenancy ------------------------------------------------------------------------------------

def test_another_organisations_invoice_is_invisible(api, billed, other_org):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    path = f"/invoices/{invoice['id']}"
    for method, suffix in (("GET", "/"), ("GET", "/line_items/"), ("POST", "/send/"),
                           ("POST", "/mark_paid/")):
        response = other_org.request(method, path + suffix)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, suffix)
    assert ok(other_org.get("/invoices/"), 200) == []
    assert ok(other_org.get(f"/invoices/?client_id={billed[0]['id']}"), 200) == []
    assert ok(api.get(f"{path}/"), 200) == invoice  # untouched: still a draft


def test_every_member_of_the_organisation_sees_and_pays_invoices(api, billed, gateway,
                                                                  make_account, account):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    pam = ApiClient(gateway, make_account(organisation_id=account.organisation_id,
                                          email="pam@example.com").token)
    assert ok(pam.get("/invoices/"), 200) == [invoice]
    assert ok(pam.get(f"/invoices/{invoice['id']}/line_items/"), 200) == \
        ok(api.get(f"/invoices/{invoice['id']}/line_items/"), 200)
    assert ok(pam.post(f"/invoices/{invoice['id']}/mark_paid/"), 200)["status"] == "paid"
    assert ok(pam.post("/invoices/", {"client_id": billed[0]["id"], **JUNE}))[
        "invoice_number"].endswith("-0002")


def test_user_without_organisation(api, billed, no_org):
    invoice = ok(create_invoice(api, billed[0]["id"]))
    assert ok(no_org.get("/invoices/"), 200) == []
    assert ok(no_org.get("/invoices/?status=paid"), 200) == []
    for body in (None, {}, {"client_id": billed[0]["id"], **JUNE}, {"tax_rate": "x"}, []):
        response = no_org.post("/invoices/", body) if body is not None else \
            no_org.post("/invoices/")
        assert (response.status_code, response.json()) == (403, NO_ORGANISATION), body
    for method, suffix in (("GET", "/"), ("GET", "/line_items/"), ("POST", "/send/"),
                           ("POST", "/mark_paid/")):
        response = no_org.request(method, f"/invoices/{invoice['id']}{suffix}")
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert ok(api.get("/invoices/"), 200) == [invoice]


@pytest.mark.parametrize("body, content_type", [
    (b"{not json", "application/json"), (b"client_id=x", "text/plain")])
def test_user_without_organisation_gets_403_before_the_body_is_parsed(no_org, body, content_type):
    response = no_org.post("/invoices/", body=body, headers={"Content-Type": content_type})
    assert (response.status_code, response.json()) == (403, NO_ORGANISATION)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "c4d5e6f7-8a9b-4c0d-9e1f-2a3b4c5d6e7"])
def test_non_uuid_ids_are_404(api, bad_id):
    for method, suffix in (("GET", "/"), ("GET", "/line_items/"), ("POST", "/send/"),
                           ("POST", "/mark_paid/")):
        response = api.request(method, f"/invoices/{bad_id}{suffix}")
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, suffix)


def test_read_key_lists_but_cannot_create(gateway, make_account, account, api, billed):
    reader = ApiClient(gateway, make_account(organisation_id=account.organisation_id,
                                             scope="read", email="reader@example.com").token)
    invoice = ok(create_invoice(api, billed[0]["id"]))
    assert ok(reader.get("/invoices/"), 200) == [invoice]
    for path in ("/invoices/", f"/invoices/{invoice['id']}/send/",
                 f"/invoices/{invoice['id']}/mark_paid/"):
        response = reader.post(path, {"client_id": billed[0]["id"], **JUNE})
        assert response.status_code == 403
    assert ok(api.get(f"/invoices/{invoice['id']}/"), 200)["status"] == "draft"


def test_client_not_found_is_reported_with_the_other_field_errors(api, make_account, gateway):
    """SPEC section 1: every failing field of one request together."""
    other = ApiClient(gateway, make_account("Vance Refrigeration", email="bob@vance.example").token)
    stranger = other.post("/clients/", {"name": "Theirs"}).json()["id"]
    response = api.post("/invoices/", {"client_id": stranger, "period_start": "June"})
    assert response.status_code == 400
    assert response.json() == {
        "client_id": ["Client not found."],
        "period_start": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
        "period_end": ["This field is required."],
    }
    assert api.get("/invoices/").json() == []
