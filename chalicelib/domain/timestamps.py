"""Time in the contract's formats: whole-second UTC, ``...Z`` in the API, ``+00:00`` in webhooks."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time in UTC: the one clock, passed into every service as ``clock``.

    Full precision, so that things created within one second keep their creation order;
    the contract's instants (session times) are taken from it with :func:`to_utc`, which
    drops the fraction, and every timestamp is written out in whole seconds.
    """
    return datetime.now(timezone.utc)


def to_utc(value: datetime) -> datetime:
    """Aware UTC, whole seconds; a naive value is taken as UTC (SPEC section 1)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0)


def format_utc(value: datetime | None) -> str | None:
    """``2026-06-26T09:00:00Z`` (the API's output format)."""
    if value is None:
        return None
    # isoformat, not strftime: "%Y" does not zero-pad years before 1000 on Linux
    return to_utc(value).replace(tzinfo=None).isoformat() + "Z"


def format_offset(value: datetime | None) -> str | None:
    """``2026-06-26T09:00:00+00:00`` (the webhook payloads' format)."""
    if value is None:
        return None
    return to_utc(value).isoformat()
