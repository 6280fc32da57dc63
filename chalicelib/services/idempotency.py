"""``Idempotency-Key`` on every POST (SPEC section 7): safe retries for integrators.

The first answer (2xx or 4xx) to a key is stored for 24 hours per API key; a repeat
with the same method, path and body gets it again with ``Idempotent-Replayed: true``
and runs nothing; a different request with the key → 400; a repeat while the first
still runs → 409. A 5xx is not stored, so a retry after a failure runs again. The
claim is a conditional write taken before the work starts; a claim left behind by a
function that died may be taken over after ``LOCK_SECONDS``.

Why not AWS Lambda Powertools' idempotency utility, whose claim/expiry design this
follows: it wraps a whole Lambda handler keyed by a JMESPath into the event, stores
whatever the handler returned (5xx responses included), brings its own boto3 clients
and a large import (cold start), and its errors are exceptions we would have to map
back into these three responses anyway.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from chalicelib import errors
from chalicelib.domain.idempotency import (DIFFERENT_REQUEST, IN_PROGRESS, LOCK_SECONDS,
                                           REPLAYED, TTL)
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.lazy import LazyModule

store = LazyModule("chalicelib.store.idempotency")  # only requests that carry a key need it
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """A response as it is stored and replayed: status, headers and the body's text."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def run_once(api_key_id: str, key: str, request_hash: str, produce: Callable[[], Answer],
             clock: Clock = utc_now) -> Answer:
    """Answer with ``produce()`` the first time, and with the stored answer after that.

    Raises ``BadRequest`` when the key was used for a different request and ``Conflict``
    while the first request is still running.
    """
    record_key = store.record_key(api_key_id, key)
    for _ in range(2):  # a second pass only if a record vanished between claim and read
        now = clock()
        claim_id = str(uuid.uuid4())
        if store.claim(record_key, request_hash, claim_id, now,
                       locked_until=now + timedelta(seconds=LOCK_SECONDS), expires_at=now + TTL):
            return _run_claimed(record_key, claim_id, produce, expires_at=now + TTL)
        found = store.existing(record_key)
        if found is None:
            continue
        if found.request_hash != request_hash:
            raise errors.BadRequest(DIFFERENT_REQUEST)
        if found.state != store.COMPLETED:
            raise errors.Conflict(IN_PROGRESS)
        return Answer(int(found.status_code), {**(found.headers or {}), REPLAYED: "true"},
                      store.body_of(found))
    raise errors.Conflict(IN_PROGRESS)


def _run_claimed(record_key: str, claim_id: str, produce: Callable[[], Answer],
                 expires_at) -> Answer:
    try:
        answer = produce()
    except BaseException:
        store.release(record_key, claim_id)
        raise
    if answer.status_code >= 500:
        store.release(record_key, claim_id)
        return answer
    try:
        store.complete(record_key, claim_id, answer.status_code, dict(answer.headers),
                       answer.body, expires_at)
    except Exception:
        # Never leave the claim "in progress": a retry may run the request again (the
        # client already has this answer), which beats a minute of 409s.
        log.exception("storing the answer to an Idempotency-Key failed; claim released")
        store.release(record_key, claim_id)
    return answer
