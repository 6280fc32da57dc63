"""The request bodies of every write, declared once: validation here, the OpenAPI document from it."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from chalicelib.domain import fields as f
from chalicelib.domain.events import EVENTS as WEBHOOK_EVENTS
from chalicelib.domain.events import TARGET_URL_LENGTH
from chalicelib.domain.vocabulary import INVOICE_STATUSES, OVERLAP_STRATEGIES
from chalicelib.errors import ValidationError

NAME_LENGTH = 255
TEXT_LENGTH = 10_000
STARTED_VIA = ("manual", "client-file", "client-manual", "browser-url", "browser-manual",
               "cli-tui", "cli-watch", "api")

# Messages of the rules checked beyond a field's type (SPEC section 4).
END_BEFORE_START = "End time must not be before start time."
PERIOD_END_BEFORE_START = "Period end must not be before period start."
ACTIVE_FILTER = 'Must be "true" or "false".'
CLIENT_NOT_FOUND = "Client not found."
PROJECT_NOT_FOUND = "Project not found."
PROJECT_NOT_OF_CLIENT = "Project {project_id} does not belong to this client."
# Errors that echo input stay smaller than it: past this many, the rest are counted.
MAX_ECHOED_ITEMS = 100
MORE_PROJECTS_NOT_OF_CLIENT = "And {count} more projects that do not belong to this client."
INVOICE_NOT_SENDABLE = "Only draft or sent invoices can be sent."
SESSION_ALREADY_CLOSED = "Session is already closed."


def _end_not_before_start(clean: dict) -> dict[str, str] | None:
    start, end = clean.get("start_time"), clean.get("end_time")
    if start is not None and end is not None and end < start:
        return {"end_time": END_BEFORE_START}
    return None


def _period_in_order(clean: dict) -> dict[str, str] | None:
    if clean["period_end"] < clean["period_start"]:
        return {"period_end": PERIOD_END_BEFORE_START}
    return None


PROJECT_CREATE = f.Schema({
    "name": f.Char(max_length=NAME_LENGTH),
    "is_active": f.Boolean(default=False),
    "currency": f.Currency(default="USD"),
    "hourly_rate": f.Money(allow_null=True, default=None),
    "client_id": f.UUID(allow_null=True, default=None),
})
PROJECT_UPDATE = f.Schema({
    "name": f.Char(max_length=NAME_LENGTH),
    "is_active": f.Boolean(),
    "currency": f.Currency(),
    "hourly_rate": f.Money(allow_null=True),
    "client_id": f.UUID(allow_null=True),
})

SESSION_CREATE = f.Schema({
    "project_id": f.UUID(),
    "start_time": f.DateTime(required=False),  # defaults to now, from the service's clock
    "end_time": f.DateTime(allow_null=True, default=None),
    "description": f.Char(max_length=TEXT_LENGTH, allow_blank=True, default=""),
    "started_via": f.Choice(STARTED_VIA, default="api"),
}, validators=[_end_not_before_start])
SESSION_UPDATE = f.Schema({
    "end_time": f.DateTime(),
    "description": f.Char(max_length=TEXT_LENGTH, allow_blank=True),
    "project_id": f.UUID(),
})

CLIENT_CREATE = f.Schema({
    "name": f.Char(max_length=NAME_LENGTH),
    "company": f.Char(max_length=NAME_LENGTH, allow_blank=True, default=""),
    "email": f.Email(allow_blank=True, default=""),
    "hourly_rate": f.Money(allow_null=True, default=None),
    "currency": f.Currency(default="USD"),
})
CLIENT_UPDATE = f.Schema({
    "name": f.Char(max_length=NAME_LENGTH),
    "company": f.Char(max_length=NAME_LENGTH, allow_blank=True),
    "email": f.Email(allow_blank=True),
    "hourly_rate": f.Money(allow_null=True),
    "currency": f.Currency(),
})

INVOICE_CREATE = f.Schema({
    "client_id": f.UUID(),
    "period_start": f.Date(),
    "period_end": f.Date(),
    "project_ids": f.UUIDList(required=False),
    "tax_rate": f.Decimal(max_value=Decimal(100), default=Decimal("0")),
    "notes": f.Char(max_length=TEXT_LENGTH, allow_blank=True, default=""),
    "overlap_strategy": f.Choice(OVERLAP_STRATEGIES, default="add"),
}, validators=[_period_in_order])

WEBHOOK_CREATE = f.Schema({
    "event": f.Choice(WEBHOOK_EVENTS),  # the reference's five and the extensions' three
    "target_url": f.Char(max_length=TARGET_URL_LENGTH),
})

MAX_OVERLAP_SECONDS = 7 * 24 * 3600  # how long a rotated secret may keep signing
DEFAULT_OVERLAP_SECONDS = 24 * 3600

WEBHOOK_ROTATE = f.Schema({
    "overlap_seconds": f.Integer(min_value=0, max_value=MAX_OVERLAP_SECONDS,
                                 default=DEFAULT_OVERLAP_SECONDS),
})


def validate(schema: f.Schema, body: object,
             lookups: Mapping[str, Callable[[object], str | None]], *,
             partial: bool = False, defaults: Mapping[str, object] | None = None) -> dict:
    """``schema.validate`` plus per-field lookups (e.g. "Client not found."), all reported together.

    A lookup runs on its field's clean value when that field itself is valid, even if
    other fields failed, so one 400 lists every failing field (SPEC section 1).
    """
    try:
        clean = schema.validate(body, partial=partial, defaults=defaults)
        errors: dict[str, list[str]] = {}
    except ValidationError as exc:
        if not isinstance(body, Mapping):
            raise
        errors = dict(exc.errors)
        clean = {}
        for name in lookups:
            if name in body and name not in errors:
                try:
                    clean[name] = schema.fields[name].clean(body[name])
                except f.Invalid:  # not reached: a failing field is already in errors
                    continue
    for name, lookup in lookups.items():
        if name in clean and name not in errors:
            message = lookup(clean[name])
            if message:
                errors[name] = [message]
    if errors:
        raise ValidationError(errors)
    return clean


class _TrueOrFalse(f.Field):
    """The ``active`` filter: exactly "true" or "false" (SPEC section 4, Sessions)."""

    def to_python(self, value: object) -> bool:
        if value not in ("true", "false"):
            raise f.Invalid(ACTIVE_FILTER)
        return value == "true"


SESSION_FILTERS = f.Schema({"active": _TrueOrFalse(required=False),
                            "project_id": f.UUID(required=False),
                            "started_after": f.DateTime(required=False),   # start_time ≥ it
                            "started_before": f.DateTime(required=False)})  # start_time < it
INVOICE_FILTERS = f.Schema({"status": f.Choice(INVOICE_STATUSES, required=False),
                            "client_id": f.UUID(required=False)})


def path_uuid(value: str) -> str | None:
    """A path id as a lower-case UUID, or None (which the caller answers with 404)."""
    try:
        return f.UUID().clean(value)
    except f.Invalid:
        return None
