"""The ``data`` object of each webhook event (SPEC section 5), built from the stored items."""
from __future__ import annotations

from chalicelib.domain.timestamps import format_offset


def session_data(session, project_name: str) -> dict:
    return {
        "uuid": session.id,
        "project_uuid": session.project_id,
        "project_name": project_name,
        "start_time": format_offset(session.start_time),
        "end_time": format_offset(session.end_time),
        "description": session.description,
        "started_via": session.started_via,
    }


def project_data(project) -> dict:
    return {
        "uuid": project.id,
        "name": project.name,
        "is_active": bool(project.is_active),
        "currency": project.currency,
        "hourly_rate": project.hourly_rate,
        "client_uuid": project.client_id,
    }


def invoice_data(invoice) -> dict:
    return {
        "uuid": invoice.id,
        "invoice_number": invoice.invoice_number,
        "client_uuid": invoice.client_id,
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
    }
