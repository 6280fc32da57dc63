"""Schemathesis hooks: give generated requests the state a schema cannot describe.

Loaded by the ``schemathesis run`` of :mod:`tests.schema.test_fuzz` (``SCHEMATHESIS_HOOKS``).
A JSON Schema can say that ``project_id`` is a UUID, not that it names a project the key
can see; nor that ``end_time`` follows the stored ``start_time``, nor that an
``Idempotency-Key`` has not been used before. Just before each call this rewrites such
values into ones that satisfy the rule, keeping the value's own validity: a malformed
value is left alone (so negative cases stay negative), and Schemathesis re-validates the
request after the hook, so what it expects follows what is sent.

The ids come from the environment: a client of the key's organisation and a project
linked to it, created by the test before the run.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import MutableMapping
from datetime import datetime, timezone

import schemathesis

from chalicelib.domain import fields

PROJECT_ID = os.environ.get("TEMPORALIST_FUZZ_PROJECT_ID", "")
CLIENT_ID = os.environ.get("TEMPORALIST_FUZZ_CLIENT_ID", "")
WEBHOOK_TARGET = os.environ.get("TEMPORALIST_FUZZ_WEBHOOK_TARGET", "https://127.0.0.1:9/hook")
# Sessions start no later and end no earlier than this, so any end follows any start
# (and "now", the default start, is before it too).
PIVOT = datetime(9000, 1, 1, tzinfo=timezone.utc)
PIVOT_TEXT = "9000-01-01T00:00:00Z"
IDEMPOTENCY_HEADER = "Idempotency-Key"

_UUID = fields.UUID()
_DATETIME = fields.DateTime()
_DATE = fields.Date()


def _valid(field: fields.Field, value: object) -> object | None:
    try:
        return field.clean(value)
    except fields.Invalid:
        return None


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and _valid(_UUID, value) is not None


def _existing_ids(body: dict) -> None:
    """Well-formed references point at the fixture's project and client."""
    if _is_uuid(body.get("project_id")):
        body["project_id"] = PROJECT_ID
    if _is_uuid(body.get("client_id")):
        body["client_id"] = CLIENT_ID
    ids = body.get("project_ids")
    if isinstance(ids, list) and all(_is_uuid(each) for each in ids):
        body["project_ids"] = [PROJECT_ID for _ in ids]


def _session_times(body: dict, *, creating: bool) -> None:
    """Starts at or before the pivot, ends at or after it: never an end before a start."""
    start = _valid(_DATETIME, body["start_time"]) if "start_time" in body else None
    end = _valid(_DATETIME, body["end_time"]) if "end_time" in body else None
    if creating and isinstance(start, datetime) and start > PIVOT:
        body["start_time"] = PIVOT_TEXT
    if isinstance(end, datetime) and end < PIVOT:
        body["end_time"] = PIVOT_TEXT


def _invoice_period(body: dict) -> None:
    start = _valid(_DATE, body.get("period_start")) if "period_start" in body else None
    end = _valid(_DATE, body.get("period_end")) if "period_end" in body else None
    if start is not None and end is not None and end < start:
        body["period_start"], body["period_end"] = body["period_end"], body["period_start"]


def _fresh_idempotency_key(headers: MutableMapping) -> None:
    """A valid key becomes a never-used one (a reused key is, rightly, a 400)."""
    key = headers.get(IDEMPOTENCY_HEADER)
    if isinstance(key, str) and 1 <= len(key) <= 255 and key == key.strip() and \
            all(" " <= ch <= "~" for ch in key):
        headers[IDEMPOTENCY_HEADER] = f"{key[:200]}-{uuid.uuid4().hex}"


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    method, path = case.operation.method.upper(), case.operation.path
    if case.headers is not None:  # a case-insensitive mapping, not a dict
        _fresh_idempotency_key(case.headers)
    body = case.body
    if not isinstance(body, dict):
        return
    _existing_ids(body)
    if path.startswith("/sessions/") and method in ("POST", "PATCH"):
        _session_times(body, creating=method == "POST")
    elif path == "/invoices/" and method == "POST":
        _invoice_period(body)
    elif path == "/webhooks/" and method == "POST" and isinstance(body.get("target_url"), str):
        body["target_url"] = WEBHOOK_TARGET
