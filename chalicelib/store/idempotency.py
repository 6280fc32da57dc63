"""Idempotency records: one per (API key, Idempotency-Key), claimed atomically before the work runs.

A record is claimed with a conditional PutItem (no live record may exist), completed
with the response, or released on a 5xx so that a retry runs again. DynamoDB's TTL
removes records a day after their creation; until the TTL sweeper runs, the claim's
condition treats an expired record as absent.
"""
from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import (JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.store.base import StageTableMeta, TableModel, condition_failed

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


class IdempotencyRecord(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "idempotency"

    key = UnicodeAttribute(hash_key=True)  # "<api key id>#<Idempotency-Key>"
    request_hash = UnicodeAttribute()
    state = UnicodeAttribute()
    claim_id = UnicodeAttribute()
    locked_until = UTCDateTimeAttribute()  # an abandoned claim may be taken over after this
    expires_at = TTLAttribute()  # DynamoDB deletes the record some time after this
    status_code = NumberAttribute(null=True)
    headers = JSONAttribute(null=True)
    body = UnicodeAttribute(null=True)


MODELS = (IdempotencyRecord,)


def claim(key: str, request_hash: str, claim_id: str, now: datetime, locked_until: datetime,
          expires_at: datetime) -> bool:
    """Claim ``key`` for a request unless a live record exists (unexpired, and completed or
    still locked); True when this call holds the claim."""
    record = IdempotencyRecord(key, request_hash=request_hash, state=IN_PROGRESS,
                               claim_id=claim_id, locked_until=locked_until,
                               expires_at=expires_at)
    free = (IdempotencyRecord.key.does_not_exist() | (IdempotencyRecord.expires_at <= now)
            | ((IdempotencyRecord.state == IN_PROGRESS) & (IdempotencyRecord.locked_until <= now)))
    try:
        record.save(condition=free)
    except PutError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


def existing(key: str) -> IdempotencyRecord | None:
    try:
        return IdempotencyRecord.get(key, consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None


def complete(key: str, claim_id: str, status_code: int, headers: dict, body: str) -> None:
    """Attach the response to our claim (a claim taken over meanwhile is left alone)."""
    try:
        IdempotencyRecord(key).update(
            actions=[IdempotencyRecord.state.set(COMPLETED),
                     IdempotencyRecord.status_code.set(status_code),
                     IdempotencyRecord.headers.set(headers), IdempotencyRecord.body.set(body)],
            condition=IdempotencyRecord.claim_id == claim_id)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise


def release(key: str, claim_id: str) -> None:
    """Drop our claim so that a retry runs the request again."""
    try:
        IdempotencyRecord(key).delete(condition=IdempotencyRecord.claim_id == claim_id)
    except DeleteError as exc:
        if not condition_failed(exc):
            raise
