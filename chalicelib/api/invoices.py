"""``/invoices/``: generate invoices from tracked time, list them, send them, mark them paid."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint, list_response
from chalicelib.domain.timestamps import format_utc
from chalicelib.lazy import LazyModule

service = LazyModule("chalicelib.services.invoices")  # loaded by the first request that needs it

invoices = Blueprint(__name__)


def invoice_json(invoice) -> dict:
    return {
        "id": invoice.id,
        "invoice_number": invoice.invoice_number,
        "client_id": invoice.client_id,
        "status": invoice.status,
        "subtotal": invoice.subtotal,
        "tax_rate": invoice.tax_rate,
        "tax_amount": invoice.tax_amount,
        "total": invoice.total,
        "currency": invoice.currency,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "due_date": invoice.due_date,
        "paid_date": invoice.paid_date,
        "created": format_utc(invoice.created),
    }


@endpoint(invoices, "/invoices")
def list_invoices(request: ApiRequest):
    query = request.queries("status", "client_id")
    return list_response(request, service.list_invoices(request.caller, query), invoice_json)


@endpoint(invoices, "/invoices", ("POST",), status_code=201)
def create_invoice(request: ApiRequest) -> dict:
    service.require_organisation(request.caller)  # 403 before a 400/415 about the body
    return invoice_json(service.create_invoice(request.caller, request.json()))


@endpoint(invoices, "/invoices/{invoice_id}")
def get_invoice(request: ApiRequest, invoice_id: str) -> dict:
    return invoice_json(service.get_invoice(request.caller, invoice_id))


@endpoint(invoices, "/invoices/{invoice_id}/line_items")
def get_line_items(request: ApiRequest, invoice_id: str):
    found = service.list_line_items(request.caller, invoice_id, request.queries())
    return list_response(request, found, lambda line: line.to_dict())


@endpoint(invoices, "/invoices/{invoice_id}/send", ("POST",))
def send_invoice(request: ApiRequest, invoice_id: str) -> dict:
    return invoice_json(service.send_invoice(request.caller, invoice_id))


@endpoint(invoices, "/invoices/{invoice_id}/mark_paid", ("POST",))
def mark_paid(request: ApiRequest, invoice_id: str) -> dict:
    return invoice_json(service.mark_paid(request.caller, invoice_id))
