"""Idempotency records: one per (API key, Idempotency-Key), claimed atomically before the work runs.

A record is claimed with a conditional PutItem (no live record may exist), completed
with the response, or released on a 5xx so that a retry runs again. DynamoDB's TTL
removes records a day after their creation; until the TTL sweeper runs, the claim's
condition treats an expired record as absent.

A stored response may be as large as any the API gives (a 400 that echoes a 1 MiB
body), while an item holds at most 400 KB: the body is kept compressed, and what does
not fit in the record goes into part items (``<record key>\\x1fpart<n>``; an
Idempotency-Key is printable ASCII, so no record's key can look like a part's), written
before the record says it is complete. The record carries the body's digest, so a
replay is byte for byte what was first sent or nothing.
"""
from __future__ import annotations

import hashlib
import zlib
from datetime import datetime

from pynamodb.attributes import (BinaryAttribute, JSONAttribute, NumberAttribute, TTLAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.store import batch
from chalicelib.store.base import StageTableMeta, StoreError, TableModel, condition_failed

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# What of a compressed body stays in the record; the rest goes into parts of this size
# (both well under DynamoDB's 400 KB item limit, with room for the keys and headers).
INLINE_BYTES = 300 * 1024
PART_BYTES = 350 * 1024
PART_SEPARATOR = "\x1f"


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
    body_zlib = BinaryAttribute(null=True, legacy_encoding=False)  # the body's first bytes
    body_parts = NumberAttribute(null=True)  # how many part items hold the rest
    body_sha256 = UnicodeAttribute(null=True)


class IdempotencyPart(TableModel):
    """The rest of a large stored body, in the records' table (so it expires with them)."""

    class Meta(metaclass=StageTableMeta):
        table = "idempotency"

    key = UnicodeAttribute(hash_key=True)
    data = BinaryAttribute(legacy_encoding=False)
    expires_at = TTLAttribute()


MODELS = (IdempotencyRecord,)  # IdempotencyPart shares its table


class CorruptRecord(StoreError):
    """A stored body whose parts are missing or do not match its digest."""


def record_key(api_key_id: str, key: str) -> str:
    """The record's table key: an ``Idempotency-Key`` belongs to one API key."""
    return f"{api_key_id}#{key}"


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


def _part_key(key: str, number: int) -> str:
    return f"{key}{PART_SEPARATOR}part{number}"


def complete(key: str, claim_id: str, status_code: int, headers: dict, body: str,
             expires_at: datetime) -> None:
    """Attach the response to our claim (a claim taken over meanwhile is left alone)."""
    raw = body.encode("utf-8")
    packed = zlib.compress(raw, 6)
    inline, rest = packed[:INLINE_BYTES], packed[INLINE_BYTES:]
    parts = [rest[i:i + PART_BYTES] for i in range(0, len(rest), PART_BYTES)]
    if parts:
        with IdempotencyPart.batch_write() as batch:
            for number, data in enumerate(parts, start=1):
                batch.save(IdempotencyPart(_part_key(key, number), data=data,
                                           expires_at=expires_at))
    try:
        IdempotencyRecord(key).update(
            actions=[IdempotencyRecord.state.set(COMPLETED),
                     IdempotencyRecord.status_code.set(status_code),
                     IdempotencyRecord.headers.set(headers),
                     IdempotencyRecord.body_zlib.set(inline),
                     IdempotencyRecord.body_parts.set(len(parts)),
                     IdempotencyRecord.body_sha256.set(hashlib.sha256(raw).hexdigest())],
            condition=IdempotencyRecord.claim_id == claim_id)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise


def body_of(record: IdempotencyRecord) -> str:
    """The stored body of a completed record (one BatchGetItem when it has parts)."""
    packed = bytes(record.body_zlib or b"")
    count = int(record.body_parts or 0)
    if count:
        keys = [_part_key(record.key, number) for number in range(1, count + 1)]
        parts = batch.get_items({IdempotencyPart: keys})[IdempotencyPart]  # consistent reads
        found = {key: bytes(part.data) for key, part in parts.items()}
        if len(found) != count:
            raise CorruptRecord(f"{record.key}: {count - len(found)} parts missing")
        packed += b"".join(found[k] for k in keys)
    raw = zlib.decompress(packed) if packed else b""
    if record.body_sha256 and hashlib.sha256(raw).hexdigest() != record.body_sha256:
        raise CorruptRecord(f"{record.key}: the body does not match its digest")
    return raw.decode("utf-8")


def release(key: str, claim_id: str) -> None:
    """Drop our claim so that a retry runs the request again."""
    try:
        IdempotencyRecord(key).delete(condition=IdempotencyRecord.claim_id == claim_id)
    except DeleteError as exc:
        if not condition_failed(exc):
            raise
