"""The delivery function's work: one signed POST per queued message, each attempt logged.

A message is an event for one subscription (queued by the fan-out, or a ping queued by
the API) or the redelivery of a logged attempt (queued by the API): either way the
subscription, its key and its user's plan are checked when it runs (read once for the
whole batch, just before its POSTs), so a deleted
subscription, a revoked key or a user no longer on Pro gets nothing, and such a skip
changes nothing and logs nothing (SPEC section 5). Otherwise the envelope is signed with
the subscription's current secrets (both while a rotation's overlap lasts), POSTed once,
the attempt written to the delivery log and its outcome to the subscription.

Each SQS record is handled on its own (records of a batch run concurrently): a record
that cannot be processed is reported in ``batchItemFailures`` and only it is retried
(then dead-lettered; all of them when the batch's subscriptions could not be read); a receiver's HTTP failure is recorded on the subscription and not
retried, as the reference promises ("no automatic retries").
"""
from __future__ import annotations

import contextvars
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable

from chalicelib import observability
from chalicelib.config import settings
from chalicelib.domain.accounts import may_use_api
from chalicelib.domain.timestamps import utc_now
from chalicelib.events import messages, outbound, signing
from chalicelib.store import batch, deliveries
from chalicelib.store import webhooks as store
from chalicelib.store.accounts import ApiKey
from chalicelib.store.webhooks import Subscription

log = logging.getLogger(__name__)

USER_AGENT = "Temporalist-Webhook/1.0"
MAX_PARALLEL = 10


@dataclass(frozen=True)
class Outgoing:
    """What one POST sends: the envelope bytes and the ids a receiver sees."""

    event: str
    delivery_id: str
    body: bytes
    redelivery: bool = False


def envelope(message: messages.Message) -> bytes:
    """The envelope's bytes: compact ASCII JSON, the exact bytes signed and sent."""
    return json.dumps({"event": message.event, "delivery_id": message.delivery_id,
                       "occurred_at": message.occurred_at, "data": message.data},
                      separators=(",", ":")).encode()


def headers_for(subscription: Subscription, outgoing: Outgoing, moment: datetime) -> dict:
    """The delivery's headers: the reference's, then Standard Webhooks', signed at ``moment``
    with every secret the subscription honours then."""
    timestamp = int(moment.timestamp())
    secrets = subscription.secrets_at(moment)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Temporalist-Event": outgoing.event,
        "X-Temporalist-Delivery": outgoing.delivery_id,
        "X-Temporalist-Signature": signing.sign(secrets[0], timestamp, outgoing.body,
                                                *secrets[1:]),
        "webhook-id": outgoing.delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.standard_signature(secrets, outgoing.delivery_id,
                                                        timestamp, outgoing.body),
    }


@dataclass
class Deliverer:
    """Delivers messages; the clock and the HTTP sender are replaceable in tests."""

    post: Callable[..., outbound.PostResult] = outbound.post_once
    clock: Callable[[], datetime] = utc_now
    timeout: float | None = None
    resolver: Callable = field(default=outbound.default_resolver)

    def deliver(self, raw: str) -> outbound.PostResult | None:
        """Deliver one queue message body; what the POST got, or None when it was skipped.

        Raises BrokenMessage for a malformed body; storage errors propagate (retry).
        """
        message = messages.read(raw)
        return self.deliver_message(message, Recipients.read([message.subscription_id]))

    def deliver_message(self, message: messages.Message,
                        recipients: "Recipients") -> outbound.PostResult | None:
        """Deliver one read message to its subscription (None: skipped)."""
        subscription = recipients.receiving(message.subscription_id)
        if subscription is None:
            return None
        if message.attempt_id is not None:
            outgoing = self.logged(message.attempt_id, subscription)
            if outgoing is None:
                return None
        else:
            outgoing = Outgoing(message.event, message.delivery_id, envelope(message))
        return self.send(subscription, outgoing)

    def logged(self, attempt_id: str, subscription: Subscription) -> Outgoing | None:
        """The logged attempt's envelope bytes and ids, to send again (None: gone)."""
        attempt = deliveries.get_attempt(attempt_id)
        if attempt is None or attempt.subscription_id != subscription.id:
            log.warning("redelivery of attempt %s: no such attempt of subscription %s",
                        attempt_id, subscription.id)
            return None
        return Outgoing(attempt.event, attempt.delivery_id,
                        attempt.request_body.encode("ascii"), redelivery=True)

    def send(self, subscription: Subscription, outgoing: Outgoing) -> outbound.PostResult:
        """Sign and POST once; log the attempt and record its outcome on the subscription."""
        now = self.clock()
        headers = headers_for(subscription, outgoing, now)
        conf = settings()
        result = self.post(subscription.target_url, outgoing.body, headers,
                           timeout=self.timeout or conf.webhook_timeout_seconds,
                           allow_insecure=conf.allow_insecure_webhooks, resolver=self.resolver)
        # The POST has been made: nothing after it may fail the message, or SQS would hand
        # it over again and the receiver get a second POST (no retries after an attempt).
        try:
            observability.log_delivery_attempt(
                delivery_id=outgoing.delivery_id, subscription_id=subscription.id,
                event=outgoing.event, target_url=subscription.target_url, result=result)
        except Exception:
            log.exception("delivery %s: its log line could not be written", outgoing.delivery_id)
        try:
            deliveries.record(deliveries.Attempt(
                subscription_id=subscription.id, delivery_id=outgoing.delivery_id,
                event=outgoing.event, attempted_at=now,
                request_headers=headers, request_body=outgoing.body, status_code=result.status,
                duration_ms=result.duration_ms, succeeded=result.succeeded, error=result.error,
                response_headers=result.headers, response_body=result.body,
                redelivery=outgoing.redelivery))
        except Exception:
            log.exception("delivery %s: its attempt could not be logged", outgoing.delivery_id)
        try:
            store.record_delivery(subscription.id, now, result.status, not result.succeeded,
                                  expired_overlap=subscription.expired_overlap(now))
        except Exception:
            log.exception("delivery %s: its outcome could not be recorded", outgoing.delivery_id)
        return result

    def deliver_batch(self, records: Iterable[tuple[str, str]]) -> dict:
        """``records`` are (message id, body); returns the Lambda partial-batch response.

        The subscriptions the messages name and their keys are read once for the batch
        (two BatchGetItems), before any POST; the POSTs run concurrently.
        """
        records = list(records)
        failed: set[str] = set()
        readable: list[tuple[str, messages.Message]] = []
        for message_id, body in records:
            try:
                readable.append((message_id, messages.read(body)))
            except messages.BrokenMessage:
                log.exception("webhook delivery %s failed", message_id)
                failed.add(message_id)
        try:
            recipients = Recipients.read(m.subscription_id for _, m in readable)
        except Exception:  # storage: every message is tried again
            log.exception("webhook deliveries: their subscriptions could not be read")
            return {"batchItemFailures": [{"itemIdentifier": m} for m, _ in records]}

        def attempt(message_id: str, message: messages.Message) -> str | None:
            try:
                self.deliver_message(message, recipients)
            except Exception:
                log.exception("webhook delivery %s failed", message_id)
                return message_id
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(readable)))) as pool:
            # each task in a copy of this context, so this invocation's call count sees the
            # workers' calls too (a thread does not inherit its submitter's context)
            futures = [pool.submit(contextvars.copy_context().run, attempt, message_id, message)
                       for message_id, message in readable]
            failed.update(m for m in (f.result() for f in futures) if m is not None)
        return {"batchItemFailures": [{"itemIdentifier": m} for m, _ in records if m in failed]}


@dataclass(frozen=True)
class Recipients:
    """The subscriptions some messages name and their keys, as read when they are delivered."""

    subscriptions: dict[str, Subscription]
    keys: dict[str, ApiKey]

    @classmethod
    def read(cls, subscription_ids: Iterable[str]) -> "Recipients":
        """Two strongly consistent BatchGetItems: the subscriptions, then their keys."""
        subscriptions = store.get_subscriptions(subscription_ids)
        key_ids = {s.key_id for s in subscriptions.values()}
        keys = batch.get_items({ApiKey: key_ids})[ApiKey]
        return cls(subscriptions, keys)

    def receiving(self, subscription_id: str) -> Subscription | None:
        """The subscription, or None when it gets nothing now (SPEC section 5)."""
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return None  # deleted, or its key was revoked: nothing to deliver
        key = self.keys.get(subscription.key_id)
        if key is None or key.revoked:
            # revoked while this subscription was being made (the revocation's sweep reads an
            # index that may lag): skipped; this function writes only its outcome and log
            return None
        if not may_use_api(key.plan):  # as the authorizer checks
            return None  # skipped, not kept for later: the user may not use the API now
        return subscription
