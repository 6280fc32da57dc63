"""Webhook events as the contract defines them (SPEC section 5): which change is an event, who
may receive it and what its data says — pure functions of an item's values before and after.

The tables' change streams deliver (old image, new image) pairs; :func:`derive` turns
one pair into zero or one :class:`Event`. A change nobody can observe (a PATCH that
changed nothing, a project's rename or its span bookkeeping, an internal index
attribute) is no event; a write that failed its condition never reaches a stream.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from chalicelib.domain.timestamps import format_offset

# The reference's five events, in its order; then the extensions of SPEC section 7.
REFERENCE_EVENTS = ("project.created", "session.created", "session.closed", "invoice.created",
                    "invoice.paid")
EXTENSION_EVENTS = ("session.updated", "session.deleted", "invoice.sent")
EVENTS = REFERENCE_EVENTS + EXTENSION_EVENTS  # what a subscription may choose
PING = "ping"  # sent by POST /webhooks/{id}/ping/ only; not subscribable
TARGET_URL_LENGTH = 2048

# The tables whose changes are events (their models declare a stream).
SESSIONS, PROJECTS, INVOICES = "sessions", "projects", "invoices"
# What a client sees of a session: a change to anything else is bookkeeping.
SESSION_FIELDS = ("project_id", "start_time", "end_time", "description", "started_via")

Item = Mapping[str, Any]  # an item as the store decodes it: its model's defaults filled in


@dataclass(frozen=True)
class Audience:
    """Who may receive an event: these users, or every user of this organisation.

    A project's team never adds to ``project.created``'s audience: projects are created
    without a team (operators assign teams later), so its owner is the whole audience.
    """

    user_ids: frozenset[int] = frozenset()
    organisation_id: int | None = None


@dataclass(frozen=True)
class Event:
    """One event: its name, the item it is about (as it was, for a deletion), its audience."""

    name: str
    item: Item
    audience: Audience

    @property
    def needs_project_name(self) -> bool:
        """Session events carry their project's current name, which lives on the project."""
        return self.name.startswith("session.")


def derive(table: str, old: Item | None, new: Item | None) -> Event | None:
    """The event of one committed change of an item of ``table``, or None."""
    if old is None and new is None:
        return None
    if table == SESSIONS:
        return _session_event(old, new)
    if table == PROJECTS:
        if old is None:
            return Event("project.created", new, Audience(user_ids=frozenset({int(new["owner_id"])})))
        return None  # renames, rates, teams, span bookkeeping: not events
    if table == INVOICES:
        return _invoice_event(old, new)
    return None


def _session_event(old: Item | None, new: Item | None) -> Event | None:
    item = new if new is not None else old
    owner = Audience(user_ids=frozenset({int(item["user_id"])}))
    if old is None:
        return Event("session.created", new, owner)
    if new is None:
        return Event("session.deleted", old, owner)
    if old.get("end_time") is None and new.get("end_time") is not None:
        return Event("session.closed", new, owner)
    if any(old.get(name) != new.get(name) for name in SESSION_FIELDS):
        return Event("session.updated", new, owner)
    return None


def _invoice_event(old: Item | None, new: Item | None) -> Event | None:
    if new is None:
        return None  # invoices are never deleted through the API
    organisation = Audience(organisation_id=int(new["organisation_id"]))
    if old is None:
        return Event("invoice.created", new, organisation)
    if old.get("status") != new.get("status") and new.get("status") in ("paid", "sent"):
        return Event(f"invoice.{new['status']}", new, organisation)
    return None


# --- data: what each event's ``data`` object says --------------------------------------

def session_data(session: Item, project_name: str) -> dict:
    return {
        "uuid": session["id"],
        "project_uuid": session["project_id"],
        "project_name": project_name,
        "start_time": format_offset(session.get("start_time")),
        "end_time": format_offset(session.get("end_time")),
        "description": session["description"],
        "started_via": session["started_via"],
    }


def project_data(project: Item) -> dict:
    return {
        "uuid": project["id"],
        "name": project["name"],
        "is_active": project["is_active"],
        "currency": project["currency"],
        "hourly_rate": project.get("hourly_rate"),
        "client_uuid": project.get("client_id"),
    }


def invoice_data(invoice: Item) -> dict:
    return {
        "uuid": invoice["id"],
        "invoice_number": invoice["invoice_number"],
        "client_uuid": invoice["client_id"],
        "status": invoice["status"],
        "subtotal": invoice["subtotal"],
        "tax_rate": invoice["tax_rate"],
        "tax_amount": invoice["tax_amount"],
        "total": invoice["total"],
        "currency": invoice["currency"],
        "period_start": invoice["period_start"],
        "period_end": invoice["period_end"],
        "due_date": invoice["due_date"],
        "paid_date": invoice.get("paid_date"),
    }


def event_data(event: Event, project_name: str = "") -> dict:
    """The ``data`` of ``event`` (``project_name``: the session's project's current name)."""
    if event.needs_project_name:  # the session events
        return session_data(event.item, project_name)
    if event.name == "project.created":
        return project_data(event.item)
    return invoice_data(event.item)


def ping_data(subscription_id: str) -> dict:
    return {"webhook_id": subscription_id}
