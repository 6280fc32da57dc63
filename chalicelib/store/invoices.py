"""Invoices in DynamoDB: numbered in one transaction with their counter, moved between states conditionally.

The number comes from a per-organisation, per-month counter. The counter's increment
(conditional on the value just read) and the invoice's put are one TransactWriteItems:
a number is used exactly when an invoice is stored, so the sequence has no gaps and no
duplicates; a create that loses a race reads the counter again and retries.

Line items are items of their own (``invoice_lines``, keyed by the invoice and the
line's position), so no number of them can push an item past DynamoDB's 400 KB. They
are written before the invoice, which is what makes them visible: an invoice is never
seen without all its lines, and lines of an invoice that was never stored (its numbering
gave up) are removed again.

The lists are key conditions on indexes sorted by ``created_key`` (creation time, then
id), so a page costs one Query page per index it reads: ``by_organisation`` (all),
``by_organisation_status`` (a status), and per status a sparse index of the invoices
in it by client (``draft_client``, ``sent_client``, ``paid_client``: a client's
invoices merge the three). A transition moves an invoice between the sparse indexes
in its one UpdateItem by copying its static ``organisation_client``.
"""
from __future__ import annotations

import random
import time
import uuid
from datetime import date, datetime
from typing import Callable

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.constants import STREAM_NEW_AND_OLD_IMAGE
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.domain.timestamps import to_utc
from chalicelib.domain.vocabulary import INVOICE_STATUSES
from chalicelib.store import pages
from chalicelib.store.accounts import Counter
from chalicelib.store.base import (Contention, StageTableMeta, TableModel, condition_failed,
                                   ordered_key, shared_connection)

MAX_NUMBERING_ATTEMPTS = 60


class _ByOrganisation(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_organisation"
        projection = AllProjection()

    organisation_id = NumberAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _ByOrganisationStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_organisation_status"
        projection = AllProjection()

    organisation_status = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _DraftByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "draft_by_client"
        projection = AllProjection()

    draft_client = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _SentByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "sent_by_client"
        projection = AllProjection()

    sent_client = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _PaidByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "paid_by_client"
        projection = AllProjection()

    paid_client = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class Invoice(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "invoices"
        stream_view_type = STREAM_NEW_AND_OLD_IMAGE  # its changes are webhook events

    id = UnicodeAttribute(hash_key=True)
    organisation_id = NumberAttribute()
    invoice_number = UnicodeAttribute()
    client_id = UnicodeAttribute()
    status = UnicodeAttribute(default="draft")
    subtotal = UnicodeAttribute()
    tax_rate = UnicodeAttribute()
    tax_amount = UnicodeAttribute()
    total = UnicodeAttribute()
    currency = UnicodeAttribute()
    period_start = UnicodeAttribute()
    period_end = UnicodeAttribute()
    due_date = UnicodeAttribute()
    paid_date = UnicodeAttribute(null=True)
    notes = UnicodeAttribute(default="")
    overlap_strategy = UnicodeAttribute(default="add")
    created = UTCDateTimeAttribute()
    # the lists' order (creation time, then id) and their filters as index keys
    created_key = UnicodeAttribute()
    organisation_status = UnicodeAttribute()  # "<organisation>#<status>"
    organisation_client = UnicodeAttribute()  # "<organisation>#<client id>": what moves copy
    # its status's by-client key (the other two absent)
    draft_client = UnicodeAttribute(null=True)
    sent_client = UnicodeAttribute(null=True)
    paid_client = UnicodeAttribute(null=True)

    by_organisation = _ByOrganisation()
    by_organisation_status = _ByOrganisationStatus()
    draft_by_client = _DraftByClient()
    sent_by_client = _SentByClient()
    paid_by_client = _PaidByClient()


def _by_client(status: str) -> tuple[GlobalSecondaryIndex, UnicodeAttribute]:
    """The sparse index of ``status``'s invoices by client, and its key attribute."""
    return getattr(Invoice, f"{status}_by_client"), getattr(Invoice, f"{status}_client")


class InvoiceLine(TableModel):
    """One line of an invoice: a billed project's time, rate and amount (money as strings)."""

    class Meta(metaclass=StageTableMeta):
        table = "invoice_lines"

    invoice_id = UnicodeAttribute(hash_key=True)
    position = NumberAttribute(range_key=True)  # 1, 2, ...: the invoice's order of lines
    organisation_id = NumberAttribute()
    project_id = UnicodeAttribute()
    project_name = UnicodeAttribute()
    seconds = NumberAttribute()
    hours = UnicodeAttribute()
    rate = UnicodeAttribute()
    amount = UnicodeAttribute()

    def to_dict(self) -> dict:
        return {"project_id": self.project_id, "project_name": self.project_name,
                "seconds": int(self.seconds), "hours": self.hours, "rate": self.rate,
                "amount": self.amount}


MODELS = (Invoice, InvoiceLine)


class NumberingContention(Contention):
    """Too many concurrent creates for one organisation and month."""


def sequence_name(organisation_id: int, created: datetime) -> str:
    """The counter of the organisation's UTC month of ``created`` (the number's month)."""
    return f"invoice#{organisation_id}#{to_utc(created):%Y%m}"


def save_numbered(*, organisation_id: int, client_id: str, created: datetime,
                  number_for: Callable[[int], str], line_items: list[dict] = (),
                  sleep=time.sleep, **fields) -> Invoice:
    """Store a new invoice and its lines with the next number of its organisation's month,
    gaplessly.

    ``number_for(sequence)`` turns the sequence into the invoice number; ``line_items``
    are the lines' values in order; ``fields`` are the invoice's other attributes.
    """
    invoice_id = str(uuid.uuid4())
    status = fields.get("status", "draft")
    organisation_client = _key(organisation_id, client_id)
    invoice = Invoice(invoice_id, organisation_id=organisation_id, client_id=client_id,
                      created=created, created_key=ordered_key(created, invoice_id),
                      organisation_status=_key(organisation_id, status),
                      organisation_client=organisation_client,
                      **{_by_client(status)[1].attr_name: organisation_client}, **fields)
    lines = [InvoiceLine(invoice_id, position, organisation_id=organisation_id, **values)
             for position, values in enumerate(line_items, start=1)]
    _write_lines(lines)
    try:
        return _number_and_save(invoice, number_for, sleep)
    except BaseException:
        _delete_lines(lines)  # no invoice was stored: its lines go too
        raise


def _write_lines(lines: list[InvoiceLine]) -> None:
    if lines:
        with InvoiceLine.batch_write() as batch:  # 25 a request; unprocessed ones resent
            for line in lines:
                batch.save(line)


def _delete_lines(lines: list[InvoiceLine]) -> None:
    if lines:
        with InvoiceLine.batch_write() as batch:
            for line in lines:
                batch.delete(line)


def _number_and_save(invoice: Invoice, number_for: Callable[[int], str], sleep) -> Invoice:
    counter_name = sequence_name(int(invoice.organisation_id), invoice.created)
    for attempt in range(MAX_NUMBERING_ATTEMPTS):
        try:
            current = int(Counter.get(counter_name, consistent_read=True).value)
        except Counter.DoesNotExist:
            current = 0
        invoice.invoice_number = number_for(current + 1)
        counter = Counter(counter_name, value=current + 1)
        unchanged = Counter.value == current if current else Counter.name.does_not_exist()
        try:
            with TransactWrite(connection=shared_connection()) as transaction:
                transaction.save(counter, condition=unchanged)
                transaction.save(invoice, condition=Invoice.id.does_not_exist())
        except TransactWriteError as exc:
            if not _lost_race(exc):
                raise
            sleep(random.uniform(0, min(0.2, 0.005 * 2 ** attempt)))
            continue
        return invoice
    raise NumberingContention(counter_name)


def lines_listing(invoice_id: str) -> pages.Listing:
    """An invoice's lines in their order."""
    return pages.Listing((pages.Source("lines", InvoiceLine, None, invoice_id),),
                         order=lambda line: int(line.position), descending=False)


def _lost_race(exc: TransactWriteError) -> bool:
    reasons = [r.code for r in (exc.cancellation_reasons or []) if r is not None]
    return exc.cause_response_code in ("TransactionCanceledException",
                                       "TransactionConflictException") and (
        not reasons or any(code in ("ConditionalCheckFailed", "TransactionConflict")
                           for code in reasons))


def get_invoice(invoice_id: str) -> Invoice | None:
    try:
        return Invoice.get(invoice_id, consistent_read=True)
    except Invoice.DoesNotExist:
        return None


def _key(organisation_id: int, value: str) -> str:
    return f"{organisation_id}#{value}"


def listing(organisation_id: int, *, status: str | None = None,
            client_id: str | None = None) -> pages.Listing:
    """The organisation's invoices, newest first (ties by id, descending)."""
    if client_id is not None:  # a client's invoices: its status's index, or all three merged
        client = _key(organisation_id, client_id)
        sources = tuple(pages.Source(each, Invoice, _by_client(each)[0], client)
                        for each in INVOICE_STATUSES if status in (None, each))
    elif status is not None:
        sources = (pages.Source("status", Invoice, Invoice.by_organisation_status,
                                _key(organisation_id, status)),)
    else:
        sources = (pages.Source("organisation", Invoice, Invoice.by_organisation,
                                organisation_id),)
    return pages.Listing(sources, order=lambda i: i.created_key, descending=True)


def transition(invoice_id: str, organisation_id: int, to_status: str, from_statuses: tuple[str, ...],
               paid_date: date | None = None) -> Invoice | None:
    """Move an invoice of the organisation to ``to_status`` if it is in ``from_statuses``.

    One conditional UpdateItem; returns the updated invoice, or None when the invoice
    is missing, another organisation's, or in another state.
    """
    invoice = Invoice(invoice_id)
    actions = [Invoice.status.set(to_status),
               Invoice.organisation_status.set(_key(organisation_id, to_status)),
               _by_client(to_status)[1].set(Invoice.organisation_client),
               *(_by_client(other)[1].remove() for other in INVOICE_STATUSES
                 if other != to_status)]
    if paid_date is not None:
        actions.append(Invoice.paid_date.set(paid_date.isoformat()))
    try:
        invoice.update(actions=actions, condition=(Invoice.organisation_id == organisation_id)
                       & Invoice.status.is_in(*from_statuses))
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return None
    return invoice
