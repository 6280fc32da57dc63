"""The delivery function's work: one signed POST per queued message, outcomes recorded.

Each SQS record is handled on its own (records of a batch run concurrently): a record
that cannot be processed is reported in ``batchItemFailures`` and only it is retried
(then dead-lettered); a receiver's HTTP failure is recorded on the subscription and not
retried, as the reference promises ("no automatic retries").
"""
from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

from chalicelib import observability
from chalicelib.config import settings
from chalicelib.domain.timestamps import utc_now
from chalicelib.events import outbound, signing
from chalicelib.store import webhooks as store
from chalicelib.store.accounts import load_key

log = logging.getLogger(__name__)

USER_AGENT = "Temporalist-Webhook/1.0"
MAX_PARALLEL = 10


class BrokenMessage(ValueError):
    """A queue message that is not a delivery this code wrote."""


@dataclass
class Deliverer:
    """Delivers messages; the clock and the HTTP sender are replaceable in tests."""

    post: Callable[..., int | None] = outbound.post_once
    clock: Callable[[], datetime] = utc_now
    timeout: float | None = None
    resolver: Callable = field(default=outbound.default_resolver)

    def envelope(self, message: dict) -> bytes:
        return json.dumps({"event": message["event"], "delivery_id": message["delivery_id"],
                           "occurred_at": message["occurred_at"], "data": message["data"]},
                          separators=(",", ":")).encode()

    def deliver(self, raw: str) -> int | None:
        """Deliver one queue message body; returns the receiver's status (None: no answer).

        Raises BrokenMessage for a malformed body; storage errors propagate (retry).
        """
        try:
            message = json.loads(raw)
            subscription_id = message["subscription_id"]
            body = self.envelope(message)
        except (ValueError, KeyError, TypeError) as exc:
            raise BrokenMessage("not a webhook delivery") from exc
        subscription = store.get_subscription(subscription_id)
        if subscription is None:
            return None  # deleted, or its key was revoked: nothing to deliver
        key = load_key(subscription.key_id)
        if key is None or key.revoked:
            # revoked while this subscription was being created: finish the revocation's work
            store.delete_subscription(subscription.id, subscription.key_id)
            return None
        now = self.clock()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Temporalist-Event": message["event"],
            "X-Temporalist-Delivery": message["delivery_id"],
            "X-Temporalist-Signature": signing.sign(subscription.secret, int(now.timestamp()),
                                                    body),
        }
        conf = settings()
        started = time.perf_counter()
        status = self.post(subscription.target_url, body, headers,
                           timeout=self.timeout or conf.webhook_timeout_seconds,
                           allow_insecure=conf.allow_insecure_webhooks, resolver=self.resolver)
        observability.log_delivery_attempt(
            delivery_id=message["delivery_id"], subscription_id=subscription.id,
            event=message["event"], status=status, started=started,
            target_url=subscription.target_url)
        failed = status is None or not 200 <= status < 300
        store.record_delivery(subscription.id, now, status, failed)
        return status

    def deliver_batch(self, records: Iterable[tuple[str, str]]) -> dict:
        """``records`` are (message id, body); returns the Lambda partial-batch response."""
        records = list(records)

        def attempt(record: tuple[str, str]) -> str | None:
            message_id, body = record
            try:
                self.deliver(body)
            except Exception:
                log.exception("webhook delivery %s failed", message_id)
                return message_id
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(records)))) as pool:
            failed = [m for m in pool.map(attempt, records) if m is not None]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
