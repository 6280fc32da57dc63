"""``store.invoices`` at its interface: gapless numbering under races, state changes."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.store import invoices as store
from chalicelib.store.accounts import Counter
from chalicelib.store.base import Contention, StoreError
from chalicelib.store.invoices import Invoice, NumberingContention
from chalicelib.store.pages import read_all

UTC = timezone.utc
JUNE = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)
ORG, OTHER_ORG = 10, 20
FIELDS = dict(status="draft", subtotal="40.00", tax_rate="0.00", tax_amount="0.00",
              total="40.00", currency="USD", period_start="2026-06-01",
              period_end="2026-06-30", due_date="2026-07-15", paid_date=None, notes="",
              overlap_strategy="add", line_items=[
                  {"project_id": "p", "project_name": "Site", "seconds": 3600, "hours": "1.00",
                   "rate": "40.00", "amount": "40.00"}])


def number(sequence: int) -> str:
    return f"INV-{sequence:04d}"


def save(organisation_id: int = ORG, created: datetime = JUNE, client_id: str = "client-1",
         **overrides) -> Invoice:
    return store.save_numbered(organisation_id=organisation_id, client_id=client_id,
                               created=created, number_for=number, **{**FIELDS, **overrides})


def counter(organisation_id: int, created: datetime) -> int:
    return int(Counter.get(store.sequence_name(organisation_id, created)).value)


# --- numbering ----------------------------------------------------------------------------

def test_save_numbered_reads_the_counter_and_writes_both_in_one_transaction(dynamodb_calls):
    invoice = save()
    # the lines first (one batch), then the counter and the invoice in one transaction
    assert dynamodb_calls.operations == ["BatchWriteItem", "GetItem", "TransactWriteItems"]
    assert invoice.invoice_number == "INV-0001"
    stored = store.get_invoice(invoice.id)
    assert (stored.invoice_number, stored.organisation_id, stored.client_id, stored.created,
            stored.total, stored.paid_date) == (
        "INV-0001", ORG, "client-1", JUNE, "40.00", None)
    assert [line.to_dict() for line in read_all(store.lines_listing(invoice.id))] == FIELDS["line_items"]
    assert counter(ORG, JUNE) == 1


def test_each_organisation_and_utc_month_has_its_own_sequence():
    assert [save().invoice_number for _ in range(3)] == ["INV-0001", "INV-0002", "INV-0003"]
    assert save(OTHER_ORG).invoice_number == "INV-0001"
    july = datetime(2026, 7, 1, tzinfo=UTC)
    assert save(created=july).invoice_number == "INV-0001"
    # 1 July 01:00 in Paris is still June in UTC: June's counter
    paris = timezone(timedelta(hours=2))
    assert save(created=datetime(2026, 7, 1, 1, 0, tzinfo=paris)).invoice_number == "INV-0004"
    assert store.sequence_name(ORG, datetime(2026, 7, 1, 1, 0, tzinfo=paris)) == "invoice#10#202606"


def test_twenty_concurrent_saves_number_0001_to_0020_without_gaps(all_at_once):
    waits: list[float] = []
    invoices = all_at_once([
        lambda: store.save_numbered(organisation_id=ORG, client_id="client-1", created=JUNE,
                                    number_for=number, sleep=waits.append, **FIELDS)
    ] * 20)
    assert sorted(i.invoice_number for i in invoices) == [number(n) for n in range(1, 21)]
    assert len({i.id for i in invoices}) == 20
    stored = read_all(store.listing(ORG))
    assert sorted(i.invoice_number for i in stored) == [number(n) for n in range(1, 21)]
    assert counter(ORG, JUNE) == 20
    assert waits, "the saves did not race"  # the losers backed off, each within 0.2 s
    assert all(0 <= w <= 0.2 for w in waits)


def test_a_save_that_keeps_losing_gives_up_without_using_a_number(monkeypatch):
    monkeypatch.setattr(store, "MAX_NUMBERING_ATTEMPTS", 3)
    competitors: list[Invoice] = []

    def number_after_a_competitor(sequence: int) -> str:
        # another save of the same month commits between our read and our write, every time
        competitors.append(store.save_numbered(
            organisation_id=ORG, client_id="client-2", created=JUNE, number_for=number,
            **FIELDS))
        return number(sequence)

    with pytest.raises(NumberingContention) as raised:
        store.save_numbered(organisation_id=ORG, client_id="client-1", created=JUNE,
                            number_for=number_after_a_competitor, sleep=lambda _: None, **FIELDS)
    assert isinstance(raised.value, Contention) and isinstance(raised.value, StoreError)
    assert [c.invoice_number for c in competitors] == ["INV-0001", "INV-0002", "INV-0003"]
    assert counter(ORG, JUNE) == 3
    assert [i.client_id for i in read_all(store.listing(ORG))] == ["client-2"] * 3


# --- state changes ------------------------------------------------------------------------

def test_transition_moves_draft_to_sent_to_paid():
    invoice = save()
    sent = store.transition(invoice.id, ORG, "sent", ("draft", "sent"))
    assert sent.status == "sent" and sent.invoice_number == "INV-0001"
    paid = store.transition(invoice.id, ORG, "paid", ("draft", "sent"),
                            paid_date=date(2026, 7, 2))
    assert (paid.status, paid.paid_date) == ("paid", "2026-07-02")
    stored = store.get_invoice(invoice.id)
    assert (stored.status, stored.paid_date) == ("paid", "2026-07-02")


def test_transition_from_another_state_is_none_and_changes_nothing():
    invoice = save()
    store.transition(invoice.id, ORG, "paid", ("draft", "sent"), paid_date=date(2026, 7, 2))
    assert store.transition(invoice.id, ORG, "sent", ("draft", "sent")) is None
    assert store.transition(invoice.id, ORG, "paid", ("draft", "sent"),
                            paid_date=date(2026, 8, 1)) is None
    stored = store.get_invoice(invoice.id)
    assert (stored.status, stored.paid_date) == ("paid", "2026-07-02")


def test_transition_of_another_organisations_invoice_is_none_and_changes_nothing():
    invoice = save()
    assert store.transition(invoice.id, OTHER_ORG, "sent", ("draft", "sent")) is None
    assert store.get_invoice(invoice.id).status == "draft"


def test_transition_of_an_unknown_invoice_is_none_and_creates_nothing():
    invoice_id = str(uuid.uuid4())
    assert store.transition(invoice_id, ORG, "sent", ("draft", "sent")) is None
    assert store.get_invoice(invoice_id) is None


def test_concurrent_payments_pay_once(all_at_once):
    invoice = save()
    days = [date(2026, 7, d) for d in range(1, 21)]
    results = all_at_once([
        lambda d=d: store.transition(invoice.id, ORG, "paid", ("draft", "sent"), paid_date=d)
        for d in days])
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert store.get_invoice(invoice.id).paid_date == winners[0].paid_date


# --- lists --------------------------------------------------------------------------------

def test_invoices_of_lists_newest_first_ties_by_id_descending(dynamodb_calls):
    old = save(created=JUNE - timedelta(days=1))
    tied = [save() for _ in range(3)]
    new = save(created=JUNE + timedelta(hours=1))
    save(OTHER_ORG)
    dynamodb_calls.clear()
    listed = [i.id for i in read_all(store.listing(ORG))]
    assert dynamodb_calls.operations == ["Query"]
    assert listed == [new.id, *sorted((i.id for i in tied), reverse=True), old.id]


def test_invoices_of_filters_by_status_and_client_within_the_organisation():
    draft = save()
    sent = save(client_id="client-2")
    store.transition(sent.id, ORG, "sent", ("draft",))
    save(OTHER_ORG, client_id="client-2")  # same client id, other organisation

    def ids(**query) -> list[str]:
        return [i.id for i in read_all(store.listing(ORG, **query))]

    assert ids(status="draft") == [draft.id]
    assert ids(status="sent") == [sent.id]
    assert ids(client_id="client-2") == [sent.id]
    assert ids(client_id="client-2", status="draft") == []
    assert ids(status="paid") == []
