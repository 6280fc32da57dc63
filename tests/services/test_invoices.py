"""``services.invoices`` with a fixed clock: numbering month, payment date, and the errors raised.

How invoicing reads tracked time is in ``test_invoice_sessions.py``.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.domain.accounts import NO_ORGANISATION_FOR_INVOICES
from chalicelib.errors import BadRequest, NotFound, PermissionDenied, ValidationError
from chalicelib.services import clients as client_service
from chalicelib.services import invoices as service
from chalicelib.services import projects as project_service
from chalicelib.store import invoices as store
from tests.services.conftest import UTC, clock_at

# the last minute of June in UTC: already July in Paris, still June for the invoice
NOW = datetime(2026, 6, 30, 23, 59, 30, 500000, tzinfo=UTC)
PERIOD = {"period_start": "2026-06-01", "period_end": "2026-06-30"}
clock = clock_at(NOW)


@pytest.fixture
def client(caller):
    """A client of the default caller's organisation."""
    return client_service.create_client(caller, {"name": "Acme", "hourly_rate": "100"},
                                        clock=clock)


def invoice(caller: Caller, client, **fields):
    return service.create_invoice(caller, {"client_id": client.id, **PERIOD, **fields},
                                  clock=clock)


def test_create_invoice_is_numbered_in_the_clocks_utc_month(caller, client):
    first, second = invoice(caller, client), invoice(caller, client)
    assert (first.invoice_number, second.invoice_number) == ("DMI-202606-0001",
                                                             "DMI-202606-0002")
    stored = store.get_invoice(first.id)
    assert (stored.created, stored.status, stored.due_date, stored.currency) == (
        NOW, "draft", "2026-07-15", "USD")


def test_create_invoice_refuses_a_client_of_another_organisation(caller, stranger):
    theirs = client_service.create_client(stranger, {"name": "Initrode"}, clock=clock)
    with pytest.raises(ValidationError) as raised:
        invoice(caller, theirs)
    assert raised.value.errors == {"client_id": [schemas.CLIENT_NOT_FOUND]}
    assert service.list_invoices(caller, {"status": None, "client_id": None}).items == []


def test_create_invoice_refuses_projects_of_another_client(caller, client):
    other = client_service.create_client(caller, {"name": "Other"}, clock=clock)
    stray = project_service.create_project(caller, {"name": "Stray", "client_id": other.id},
                                           clock=clock)
    with pytest.raises(ValidationError) as raised:
        invoice(caller, client, project_ids=[stray.id])
    assert raised.value.errors == {"project_ids": [
        schemas.PROJECT_NOT_OF_CLIENT.format(project_id=stray.id)]}
    assert service.list_invoices(caller, {"status": None, "client_id": None}).items == []


def test_a_caller_without_organisation_is_denied_before_the_body_is_checked(solo):
    for body in ({}, "not a dict"):
        with pytest.raises(PermissionDenied) as raised:
            service.create_invoice(solo, body, clock=clock)
        assert raised.value.detail == NO_ORGANISATION_FOR_INVOICES
    assert service.list_invoices(solo, {"status": None, "client_id": None}).items == []


def test_mark_paid_dates_the_payment_with_the_clocks_date(caller, client):
    created = invoice(caller, client)
    paid = service.mark_paid(caller, created.id, clock=clock)
    assert (paid.status, paid.paid_date) == ("paid", "2026-06-30")
    again = service.mark_paid(caller, created.id, clock=clock_at(NOW + timedelta(days=3)))
    assert again.paid_date == "2026-06-30"
    assert store.get_invoice(created.id).paid_date == "2026-06-30"


def test_a_sent_invoice_can_be_paid_but_a_paid_one_not_sent(caller, client):
    created = invoice(caller, client)
    assert service.send_invoice(caller, created.id).status == "sent"
    assert service.send_invoice(caller, created.id).status == "sent"  # sending again is fine
    service.mark_paid(caller, created.id, clock=clock)
    with pytest.raises(BadRequest) as raised:
        service.send_invoice(caller, created.id)
    assert raised.value.detail == schemas.INVOICE_NOT_SENDABLE
    assert store.get_invoice(created.id).status == "paid"


def test_another_organisations_invoice_is_not_found(caller, stranger, client):
    created = invoice(caller, client)
    for invoice_id in (created.id, "not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            service.get_invoice(stranger, invoice_id)
        with pytest.raises(NotFound):
            service.send_invoice(stranger, invoice_id)
        with pytest.raises(NotFound):
            service.mark_paid(stranger, invoice_id, clock=clock)
    assert store.get_invoice(created.id).status == "draft"


def test_list_invoices_checks_its_filters(caller, client):
    created = invoice(caller, client)
    with pytest.raises(ValidationError) as raised:
        service.list_invoices(caller, {"status": "void", "client_id": "not-a-uuid"}).items
    assert set(raised.value.errors) == {"status", "client_id"}
    listed = service.list_invoices(caller, {"status": "draft", "client_id": client.id}).items
    assert [i.id for i in listed] == [created.id]
    assert service.list_invoices(caller, {"status": "paid", "client_id": None}).items == []
