"""``Idempotency-Key`` on every POST (SPEC section 7): safe retries for integrators.

The first answer (2xx or 4xx) to a key is stored for 24 hours per API key; a repeat
with the same method, path and body gets it again with ``Idempotent-Replayed: true``
and runs nothing; a different request with the key → 400; a repeat while the first
still runs → 409. A 5xx is not stored, so a retry after a failure runs again. The
claim is a conditional PutItem taken before the work starts; a claim left behind by a
function that died may be taken over after :data:`LOCK_SECONDS`.

Why not AWS Lambda Powertools' idempotency utility, whose claim/expiry design this
follows: it wraps a whole Lambda handler keyed by a JMESPath into the event, stores
whatever the handler returned (5xx responses included), brings its own boto3 clients
and a large import (cold start), and its errors are exceptions we would have to map
back into these three responses anyway. The logic here is about eighty lines on the
shared client.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Callable

from chalice import Response

from chalicelib import errors
from chalicelib.domain.timestamps import utc_now
from chalicelib.lazy import LazyModule

store = LazyModule("chalicelib.store.idempotency")  # only requests that carry a key need it

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_LENGTH = 255
TTL = timedelta(hours=24)
LOCK_SECONDS = 60  # twice the API function's 30 s timeout
DIFFERENT_REQUEST = "Idempotency-Key was already used with a different request."
IN_PROGRESS = "A request with this Idempotency-Key is in progress."


def validate_key(value: str) -> str:
    """1–255 printable ASCII characters, or a 400 keyed by the header's name."""
    if value == "":
        raise errors.ValidationError({HEADER: "This field may not be blank."})
    if len(value) > MAX_LENGTH:
        raise errors.ValidationError({HEADER: f"Ensure this field has no more than {MAX_LENGTH} characters."})
    if not all(" " <= ch <= "~" for ch in value):
        raise errors.ValidationError({HEADER: "Only printable ASCII characters are allowed."})
    return value


def fingerprint(method: str, path: str, raw_body: bytes | None, content_type: str = "") -> str:
    """What makes two requests "the same": method, path (trailing slash optional) and body.

    A JSON body is compared by its content, so key order and spacing don't matter; the
    body's content type counts too, since it decides how the body is read (or refused).
    """
    body = raw_body or b""
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON: compared byte for byte
        pass
    digest = hashlib.sha256()
    media_type = content_type.split(";")[0].strip().lower().encode()
    for part in (method.upper().encode(), path.rstrip("/").encode() or b"/", media_type, body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _replay(record: store.IdempotencyRecord) -> Response:
    headers = {**(record.headers or {}), REPLAYED: "true"}
    return Response(body=record.body or "", status_code=int(record.status_code), headers=headers)


def _error(exc: errors.ApiError) -> Response:
    status, headers, body = errors.error_payload(exc)
    return Response(body=body, status_code=status, headers=headers)


def run_once(api_key_id: str, key: str, request_hash: str, produce: Callable[[], Response],
             clock: Callable[[], datetime] = utc_now) -> Response:
    """Answer with ``produce()`` the first time, and with the stored answer after that."""
    record_key = f"{api_key_id}#{key}"
    for _ in range(2):  # a second pass only if a record vanished between claim and read
        now = clock()
        claim_id = str(uuid.uuid4())
        record = store.IdempotencyRecord(
            record_key, request_hash=request_hash, state=store.IN_PROGRESS, claim_id=claim_id,
            locked_until=now + timedelta(seconds=LOCK_SECONDS), expires_at=now + TTL)
        if store.claim(record, now):
            return _run_claimed(record_key, claim_id, produce)
        found = store.existing(record_key)
        if found is None:
            continue
        if found.request_hash != request_hash:
            return _error(errors.BadRequest(DIFFERENT_REQUEST))
        if found.state != store.COMPLETED:
            return _error(errors.Conflict(IN_PROGRESS))
        return _replay(found)
    return _error(errors.Conflict(IN_PROGRESS))


def _run_claimed(record_key: str, claim_id: str, produce: Callable[[], Response]) -> Response:
    try:
        response = produce()
    except BaseException:
        store.release(record_key, claim_id)
        raise
    if response.status_code >= 500:
        store.release(record_key, claim_id)
        return response
    body = response.body if isinstance(response.body, str) else json.dumps(response.body)
    store.complete(record_key, claim_id, response.status_code, dict(response.headers), body)
    return response
