"""Invoices: generation from tracked time, gapless numbering, and the draft → sent → paid lifecycle.

Which sessions are read: for each billed project, a Query of the sessions' ``by_project``
index for starts in ``[window start − longest session of the project, window end)``,
filtered to sessions ending after the window start. The look-back is the project's
recorded longest-session bucket (:func:`chalicelib.store.projects.span_bucket`), so a
session that began before the window but overlaps it is found without reading the
project's whole history.
"""
from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable, Mapping

from chalicelib.auth.caller import Caller
from chalicelib.domain import invoicing, schemas
from chalicelib.domain.accounts import NO_ORGANISATION_FOR_INVOICES
from chalicelib.domain.money import format_money, parse_money
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.errors import (BadRequest, NotFound, PermissionDenied, ServiceBusy,
                               ValidationError)
from chalicelib.services import listing
from chalicelib.services.clients import organisation_client
from chalicelib.store import accounts as account_store
from chalicelib.store import invoices as store
from chalicelib.store import projects as project_store
from chalicelib.store import sessions as session_store
from chalicelib.store.clients import Client
from chalicelib.store.invoices import Invoice
from chalicelib.store.projects import Project


def get_invoice(caller: Caller, invoice_id: str) -> Invoice:
    invoice_id = schemas.path_uuid(invoice_id)
    invoice = store.get_invoice(invoice_id) if invoice_id else None
    if invoice is None or caller.organisation_id is None or \
            int(invoice.organisation_id) != caller.organisation_id:
        raise NotFound()
    return invoice


def list_invoices(caller: Caller, query: Mapping[str, str | None]) -> listing.Listed:
    """The organisation's invoices (filters: ``status``, ``client_id``), newest first."""
    filters, page = listing.validated(schemas.INVOICE_FILTERS, query)
    if caller.organisation_id is None:
        return listing.Listed([])
    organisation_id = caller.organisation_id
    return listing.listed("invoices", caller, filters, page,
                          store.listing(organisation_id, **filters))


def list_line_items(caller: Caller, invoice_id: str,
                    query: Mapping[str, str | None]) -> listing.Listed:
    """An invoice's lines in order. The lines carry their organisation, so a page of them
    needs no read of the invoice; only an invoice without lines is looked up (404 or [])."""
    _, page = listing.validated(None, query)
    checked_id = schemas.path_uuid(invoice_id)
    if checked_id is None or caller.organisation_id is None:
        raise NotFound()
    found = listing.listed(f"invoices/{checked_id}/line_items", caller, {}, page,
                           store.lines_listing(checked_id))
    if not found.items:
        get_invoice(caller, checked_id)  # 404 unless visible
    elif int(found.items[0].organisation_id) != caller.organisation_id:
        raise NotFound()
    return found


def _billed_projects(client: Client, project_ids: list[str] | None) -> list[Project]:
    if project_ids is None:
        return project_store.projects_of_client(client.id)
    found = project_store.projects_by_id(project_ids)
    strangers = [pid for pid in project_ids
                 if pid not in found or found[pid].client_id != client.id]
    if strangers:
        shown = strangers[:schemas.MAX_ECHOED_ITEMS]
        messages = [schemas.PROJECT_NOT_OF_CLIENT.format(project_id=pid) for pid in shown]
        if len(strangers) > len(shown):
            messages.append(schemas.MORE_PROJECTS_NOT_OF_CLIENT.format(
                count=len(strangers) - len(shown)))
        raise ValidationError({"project_ids": messages})
    return [found[pid] for pid in project_ids]


def _earlier(moment: datetime, span: timedelta) -> datetime:
    """``moment - span``, or the earliest representable instant if that is before it."""
    earliest = datetime.min.replace(tzinfo=timezone.utc)
    return moment - span if moment - earliest > span else earliest


SPAN_READERS = 16  # per-project Queries run side by side: 1,000 projects stay far from 29 s


def _tracked_spans(projects: Iterable[Project],
                   window: invoicing.BillingWindow) -> list[invoicing.TrackedSpan]:
    def spans_of(project: Project) -> list[invoicing.TrackedSpan]:
        earliest = _earlier(window.start, project.longest_span())
        return [invoicing.TrackedSpan(project.id, session.start_time, session.end_time)
                for session in session_store.closed_spans(project.id, earliest, window.end,
                                                          window.start)]

    projects = list(projects)
    if len(projects) <= 1:
        return [span for project in projects for span in spans_of(project)]
    with ThreadPoolExecutor(max_workers=min(SPAN_READERS, len(projects))) as pool:
        # each read in a copy of this context, so the request's call count sees it (a
        # thread does not inherit its submitter's context)
        futures = [pool.submit(contextvars.copy_context().run, spans_of, project)
                   for project in projects]
        return [span for future in futures for span in future.result()]


def require_organisation(caller: Caller) -> None:
    """403 for a caller without an organisation, before the body is even parsed (SPEC 3)."""
    if caller.organisation_id is None:
        raise PermissionDenied(NO_ORGANISATION_FOR_INVOICES)


def create_invoice(caller: Caller, body: object, clock: Clock = utc_now) -> Invoice:
    require_organisation(caller)
    found: dict[str, Client] = {}

    def client_error(client_id: str) -> str | None:
        client = organisation_client(caller, client_id)
        if client is None:
            return schemas.CLIENT_NOT_FOUND
        found["client"] = client
        return None

    data = schemas.validate(schemas.INVOICE_CREATE, body, {"client_id": client_error})
    client = found["client"]
    projects = _billed_projects(client, data.get("project_ids"))
    projects.sort(key=lambda p: (p.name.casefold(), p.id))
    window = invoicing.billing_window(data["period_start"], data["period_end"])
    client_rate = parse_money(client.hourly_rate)
    rates = [invoicing.ProjectRate(p.id, p.name, parse_money(p.hourly_rate), client_rate)
             for p in projects]
    lines = invoicing.build_line_items(_tracked_spans(projects, window), rates, window,
                                       data["overlap_strategy"])
    totals = invoicing.compute_totals(lines, data["tax_rate"])
    organisation = account_store.get_organisation(caller.organisation_id)
    if organisation is None:  # the key's snapshot names an organisation that is gone
        raise PermissionDenied(NO_ORGANISATION_FOR_INVOICES)
    created = clock()
    try:
        return store.save_numbered(
            organisation_id=caller.organisation_id, client_id=client.id, created=created,
            number_for=lambda seq: invoicing.invoice_number(organisation.invoice_prefix,
                                                            created, seq),
            status="draft", subtotal=format_money(totals.subtotal),
            tax_rate=format_money(Decimal(data["tax_rate"])),
            tax_amount=format_money(totals.tax_amount), total=format_money(totals.total),
            currency=client.currency, period_start=data["period_start"].isoformat(),
            period_end=data["period_end"].isoformat(),
            due_date=invoicing.due_date(data["period_end"]).isoformat(), paid_date=None,
            notes=data["notes"], overlap_strategy=data["overlap_strategy"],
            line_items=[line.to_dict() for line in lines])
    except store.NumberingContention as exc:  # nothing was stored; a retry will number it
        raise ServiceBusy() from exc


def send_invoice(caller: Caller, invoice_id: str) -> Invoice:
    invoice, moved = _transition(caller, invoice_id, "sent", ("draft", "sent"))
    if not moved:
        raise BadRequest(schemas.INVOICE_NOT_SENDABLE)
    return invoice


def mark_paid(caller: Caller, invoice_id: str, clock: Clock = utc_now) -> Invoice:
    """draft/sent → paid with today's date (``invoice.paid``); already paid → unchanged."""
    invoice, _ = _transition(caller, invoice_id, "paid", ("draft", "sent"),
                             paid_date=clock().date())
    return invoice  # already paid: as it is, no change, no event


def _transition(caller: Caller, invoice_id: str, to_status: str, from_statuses: tuple[str, ...],
                paid_date=None) -> tuple[Invoice, bool]:
    """The invoice after the move and whether it moved (it was in another state: as it
    is, read once); 404 unless visible."""
    checked_id = schemas.path_uuid(invoice_id)
    if checked_id is None or caller.organisation_id is None:
        raise NotFound()
    updated = store.transition(checked_id, caller.organisation_id, to_status, from_statuses,
                               paid_date)
    if updated is None:
        return get_invoice(caller, checked_id), False  # 404 unless visible
    return updated, True

