"""The tables' change streams read back in domain terms: which table, the item before and after.

A DynamoDB Streams record (as Lambda hands it over, or as the local poller builds it)
carries its images in DynamoDB's typed JSON; the table's own model decodes them, so a
session's times arrive as datetimes exactly as the store reads them elsewhere.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from chalicelib.config import settings
from chalicelib.store.base import TableModel
from chalicelib.store.tables import MODELS


@dataclass(frozen=True)
class Change:
    """One committed change of one item."""

    table: str                      # the model's short table name ("sessions", ...)
    old: dict[str, Any] | None      # None for an insert
    new: dict[str, Any] | None      # None for a removal
    record_id: str                  # the stream record's eventID: stable across re-deliveries
    occurred_at: int                # unix seconds of the change (its stream record's time)


def streamed_models() -> tuple[type[TableModel], ...]:
    """The models whose tables have a stream: those of every table (``store.tables.MODELS``,
    the deployment template's source too) that declare one in their ``Meta``."""
    return tuple(m for m in MODELS if getattr(m.Meta, "stream_view_type", None))


def _table_name(source_arn: str) -> str:
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    resource = source_arn.split(":", 5)[-1]
    parts = resource.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "table" else ""


def epoch_seconds(value: Any) -> int:
    """Stream record times: a number on Lambda, a datetime or text from other readers."""
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return calendar.timegm(aware.astimezone(timezone.utc).timetuple())
    return int(float(value))


def _decode(model: type[TableModel], image: dict | None) -> dict[str, Any] | None:
    if not image:
        return None
    return dict(model.from_raw_data(image).attribute_values)


def decode(record: dict) -> Change | None:
    """The change a stream record describes, or None for a table that is not ours."""
    name = _table_name(record.get("eventSourceARN", ""))
    conf = settings()
    model = next((m for m in streamed_models() if conf.table_name(m.Meta.table) == name), None)
    if model is None:
        return None
    body = record["dynamodb"]
    return Change(table=model.Meta.table, old=_decode(model, body.get("OldImage")),
                  new=_decode(model, body.get("NewImage")), record_id=record["eventID"],
                  occurred_at=epoch_seconds(body["ApproximateCreationDateTime"]))
