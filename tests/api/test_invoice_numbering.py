"""``invoice_number`` = ``<prefix>-<YYYYMM>-<NNNN>``: per organisation and UTC month, from 0001,
unique and gapless under concurrent creation (SPEC section 4 "Invoices").

The parallel tests go through the local gateway from real threads; the AWS side is the
moto server, so the counter's conditional transaction is what keeps the numbers apart.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.auth import authorizer
from chalicelib.auth.caller import Caller
from chalicelib.services import invoices as service
from chalicelib.services import accounts as operator
from chalicelib.store import accounts
from chalicelib.store import invoices as invoice_store
from chalicelib.store.pages import read_all
from tests.api.test_invoices import JUNE, create_invoice, new_client, ok, utc_months_around
from tests.conftest import ApiClient

UTC = timezone.utc
NUMBER = re.compile(r"^(?P<prefix>[A-Z0-9]+)-(?P<month>\d{6})-(?P<seq>\d{4,})$")


def caller_of(key_id: str) -> Caller:
    """The Caller the handlers would see for this key, built by the real authorizer."""
    return Caller.from_context(authorizer.caller_context(accounts.load_key(key_id)))


def at(when: datetime):
    return lambda: when


def sequences(numbers: list[str], prefix: str, months: set[str]) -> list[int]:
    """The sequence parts of ``numbers``, checking prefix and month of each."""
    found = []
    for number in numbers:
        match = NUMBER.match(number)
        assert match, number
        assert match["prefix"] == prefix and match["month"] in months, number
        found.append(int(match["seq"]))
    return sorted(found)


@pytest.fixture
def client_id(api) -> str:
    """A client of the default organisation ("Dunder Mifflin", prefix DMI)."""
    return new_client(api)["id"]


def test_twenty_parallel_creates_get_0001_to_0020(api, client_id):
    def create(_):
        return create_invoice(api, client_id)

    def run():
        with ThreadPoolExecutor(max_workers=20) as pool:
            return list(pool.map(create, range(20)))

    responses, months = utc_months_around(run)
    bodies = [ok(r) for r in responses]
    numbers = [b["invoice_number"] for b in bodies]
    assert len(set(numbers)) == 20
    assert sequences(numbers, "DMI", months) == list(range(1, 21))
    assert len({b["id"] for b in bodies}) == 20
    listed = ok(api.get("/invoices/"), 200)
    assert sorted(i["invoice_number"] for i in listed) == sorted(numbers)
    assert ok(create_invoice(api, client_id))["invoice_number"].endswith("-0021")


def test_two_organisations_in_parallel_never_share_a_sequence(gateway, make_account):
    # Same name, so the same default prefix: only the sequence could tell them apart.
    first = ApiClient(gateway, make_account("Dunder Mifflin").token)
    second = ApiClient(gateway, make_account("Dunder Mifflin", email="b@example.com").token)
    first_client, second_client = new_client(first)["id"], new_client(second)["id"]
    third = ApiClient(gateway, make_account("Vance Refrigeration", email="c@example.com").token)
    third_client = new_client(third)["id"]
    jobs = [(first, first_client), (second, second_client), (third, third_client)] * 7

    def run():
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            return list(pool.map(lambda job: ok(create_invoice(*job)), jobs))

    bodies, months = utc_months_around(run)
    for api, prefix in ((first, "DMI"), (second, "DMI"), (third, "VRI")):
        numbers = [i["invoice_number"] for i in ok(api.get("/invoices/"), 200)]
        assert sequences(numbers, prefix, months) == list(range(1, 8))
    assert len(bodies) == 21


def test_custom_prefix_is_used(gateway, make_account):
    organisation = operator.create_organisation("Acme Corp", invoice_prefix="acme")
    api = ApiClient(gateway, make_account(organisation_id=int(organisation.id)).token)
    response, months = utc_months_around(lambda: create_invoice(api, new_client(api)["id"]))
    assert sequences([ok(response)["invoice_number"]], "ACME", months) == [1]


def test_failed_create_between_two_creates_leaves_no_gap(api, client_id):
    first = ok(create_invoice(api, client_id))
    for bad in ({"client_id": client_id, **JUNE, "tax_rate": "101"},
                {"client_id": client_id, **JUNE, "project_ids": ["00000000-0000-4000-8000-000000000000"]},
                {"client_id": "00000000-0000-4000-8000-000000000000", **JUNE}):
        assert api.post("/invoices/", bad).status_code == 400
    second = ok(create_invoice(api, client_id))
    assert first["invoice_number"][:-4] == second["invoice_number"][:-4]
    assert (first["invoice_number"][-4:], second["invoice_number"][-4:]) == ("0001", "0002")


def test_a_new_month_restarts_at_0001(api, account, client_id):
    caller = caller_of(account.key_id)
    body = {"client_id": client_id, **JUNE}
    june = [service.create_invoice(caller, body, clock=at(datetime(2026, 6, day, 12, tzinfo=UTC)))
            for day in (1, 30)]
    july = service.create_invoice(caller, body, clock=at(datetime(2026, 7, 1, 0, 0, 0, tzinfo=UTC)))
    late_june = service.create_invoice(
        caller, body, clock=at(datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)))
    july_again = service.create_invoice(
        caller, body, clock=at(datetime(2026, 7, 15, tzinfo=UTC)))
    assert [i.invoice_number for i in june + [july, late_june, july_again]] == [
        "DMI-202606-0001", "DMI-202606-0002", "DMI-202607-0001", "DMI-202606-0003",
        "DMI-202607-0002"]
    # The API shows the creation time that chose the month.
    assert ok(api.get(f"/invoices/{july.id}/"), 200)["created"] == "2026-07-01T00:00:00Z"
    listed = [i["invoice_number"] for i in ok(api.get("/invoices/"), 200)]
    assert listed == ["DMI-202607-0002", "DMI-202607-0001", "DMI-202606-0003",
                      "DMI-202606-0002", "DMI-202606-0001"]


def test_the_month_is_the_utc_month_whatever_the_clock_offset(account, client_id):
    caller = caller_of(account.key_id)
    body = {"client_id": client_id, **JUNE}
    first = service.create_invoice(caller, body, clock=at(datetime(2026, 6, 30, 12, tzinfo=UTC)))
    # 2026-07-01 01:00 at +02:00 is still 2026-06-30 23:00 UTC: June's sequence continues.
    plus_two = timezone(timedelta(hours=2))
    second = service.create_invoice(caller, body,
                                    clock=at(datetime(2026, 7, 1, 1, 0, tzinfo=plus_two)))
    # 2026-06-30 20:00 at -05:00 is 2026-07-01 01:00 UTC: July's first.
    minus_five = timezone(timedelta(hours=-5))
    third = service.create_invoice(caller, body,
                                   clock=at(datetime(2026, 6, 30, 20, 0, tzinfo=minus_five)))
    assert [first.invoice_number, second.invoice_number, third.invoice_number] == [
        "DMI-202606-0001", "DMI-202606-0002", "DMI-202607-0001"]


def test_sequences_are_per_organisation_and_month_with_the_service(make_account, api, account,
                                                                   client_id, gateway):
    other = make_account("Dunder Mifflin", email="other@example.com")
    other_client = new_client(ApiClient(gateway, other.token))["id"]
    june = at(datetime(2026, 6, 10, tzinfo=UTC))
    mine = [service.create_invoice(caller_of(account.key_id), {"client_id": client_id, **JUNE},
                                   clock=june) for _ in range(2)]
    theirs = service.create_invoice(caller_of(other.key_id), {"client_id": other_client, **JUNE},
                                    clock=june)
    assert [i.invoice_number for i in mine] == ["DMI-202606-0001", "DMI-202606-0002"]
    assert theirs.invoice_number == "DMI-202606-0001"


def test_a_create_that_loses_the_race_retries_with_the_next_number(account, client_id):
    """Deterministic race: another create commits while this one holds number 0001 in hand."""
    caller = caller_of(account.key_id)
    body = {"client_id": client_id, **JUNE}
    june = at(datetime(2026, 6, 10, tzinfo=UTC))
    original = invoice_store.save_numbered
    raced = []

    def racing_save(*, number_for, sleep=None, **fields):
        def number_then_race(seq):
            if not raced:
                raced.append(original(number_for=number_for, **fields))  # a rival commits first
            return number_for(seq)
        return original(number_for=number_then_race, sleep=lambda _: None, **fields)

    invoice_store.save_numbered = racing_save
    try:
        mine = service.create_invoice(caller, body, clock=june)
    finally:
        invoice_store.save_numbered = original
    assert raced[0].invoice_number == "DMI-202606-0001"
    assert mine.invoice_number == "DMI-202606-0002"
    stored = {i.invoice_number for i in read_all(invoice_store.listing(account.organisation_id))}
    assert stored == {"DMI-202606-0001", "DMI-202606-0002"}
    assert service.create_invoice(caller, body, clock=june).invoice_number == "DMI-202606-0003"


def test_a_create_that_keeps_losing_the_race_answers_503_and_stores_nothing(
        api, account, client_id, monkeypatch):
    """Rivals commit before each of its attempts: after the last one the caller gets 503 with
    Retry-After, no invoice and none of its lines are left, and its retry is numbered next."""
    original = invoice_store.save_numbered
    rivals = []

    def always_raced(*, number_for, sleep=None, **fields):
        def rival_first(seq):
            monkeypatch.setattr(invoice_store, "save_numbered", original)  # rivals are normal
            rivals.append(original(number_for=number_for, **fields))
            monkeypatch.setattr(invoice_store, "save_numbered", always_raced)
            return number_for(seq)
        return original(number_for=rival_first, sleep=lambda _: None, **fields)

    monkeypatch.setattr(invoice_store, "save_numbered", always_raced)
    response = create_invoice(api, client_id)
    assert (response.status_code, response.json()) == (
        503, {"detail": "Too many concurrent changes; retry shortly."})
    assert response.headers["Retry-After"] == "1"
    assert len(rivals) == invoice_store.MAX_NUMBERING_ATTEMPTS
    stored = read_all(invoice_store.listing(account.organisation_id))
    assert len(stored) == len(rivals)  # the rivals' invoices only
    assert {line.invoice_id for line in invoice_store.InvoiceLine.scan()} <= {
        i.id for i in stored}
    monkeypatch.setattr(invoice_store, "save_numbered", original)
    retried = ok(create_invoice(api, client_id))
    assert retried["invoice_number"].endswith(f"-{len(rivals) + 1:04d}")
