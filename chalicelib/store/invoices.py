"""Invoices in DynamoDB: numbered in one transaction with their counter, moved between states conditionally.

The number comes from a per-organisation, per-month counter. The counter's increment
(conditional on the value just read) and the invoice's put are one TransactWriteItems:
a number is used exactly when an invoice is stored, so the sequence has no gaps and no
duplicates; a create that loses a race reads the counter again and retries.
"""
from __future__ import annotations

import random
import time
import uuid
from datetime import date, datetime
from typing import Callable

from pynamodb.attributes import (JSONAttribute, NumberAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.constants import STREAM_NEW_AND_OLD_IMAGE
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.domain.timestamps import to_utc
from chalicelib.store.accounts import Counter
from chalicelib.store.base import (Contention, StageTableMeta, TableModel, condition_failed,
                                   shared_connection)

MAX_NUMBERING_ATTEMPTS = 60


class _ByOrganisation(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_organisation"
        projection = AllProjection()

    organisation_id = NumberAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class _ByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_client"
        projection = AllProjection()

    client_id = UnicodeAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


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
    line_items = JSONAttribute(default=list)
    created = UTCDateTimeAttribute()

    by_organisation = _ByOrganisation()
    by_client = _ByClient()


MODELS = (Invoice,)


class NumberingContention(Contention):
    """Too many concurrent creates for one organisation and month."""


def sequence_name(organisation_id: int, created: datetime) -> str:
    """The counter of the organisation's UTC month of ``created`` (the number's month)."""
    return f"invoice#{organisation_id}#{to_utc(created):%Y%m}"


def save_numbered(*, organisation_id: int, client_id: str, created: datetime,
                  number_for: Callable[[int], str], sleep=time.sleep, **fields) -> Invoice:
    """Store a new invoice with the next number of its organisation's month, gaplessly.

    ``number_for(sequence)`` turns the sequence into the invoice number; ``fields`` are
    the invoice's other attributes (status, amounts, period, line items, ...).
    """
    invoice = Invoice(str(uuid.uuid4()), organisation_id=organisation_id, client_id=client_id,
                      created=created, **fields)
    counter_name = sequence_name(organisation_id, created)
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


def invoices_of(organisation_id: int, *, status: str | None = None,
                client_id: str | None = None) -> list[Invoice]:
    """The organisation's invoices, newest first (ties by id, descending)."""
    condition = None if status is None else Invoice.status == status
    if client_id is not None:
        same_org = Invoice.organisation_id == organisation_id
        condition = same_org if condition is None else condition & same_org
        found = Invoice.by_client.query(client_id, filter_condition=condition,
                                        scan_index_forward=False)
    else:
        found = Invoice.by_organisation.query(organisation_id, filter_condition=condition,
                                              scan_index_forward=False)
    return sorted(found, key=lambda i: (i.created, i.id), reverse=True)


def transition(invoice_id: str, organisation_id: int, to_status: str, from_statuses: tuple[str, ...],
               paid_date: date | None = None) -> Invoice | None:
    """Move an invoice of the organisation to ``to_status`` if it is in ``from_statuses``.

    One conditional UpdateItem; returns the updated invoice, or None when the invoice
    is missing, another organisation's, or in another state.
    """
    invoice = Invoice(invoice_id)
    actions = [Invoice.status.set(to_status)]
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
