"""The delivery log in DynamoDB: one item per POST the delivery function made, kept 30 days.

An attempt holds what was sent (headers and the raw envelope, so a redelivery can send
the same bytes again) and what came back (status, headers, the first 2,048 characters).
Its subscription's log is one Query of the ``by_subscription`` index, newest first; the
index projects only the list's fields, so a page of the log never reads the bodies.

Every item stays far below DynamoDB's 400 KB: the largest envelope the API can make (a
10,000-character description of emoji, ASCII-escaped) is about 125 KB, a receiver's
headers are kept up to 16 KB and its body up to 2,048 characters (8 KB).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from pynamodb.attributes import (BooleanAttribute, JSONAttribute, NumberAttribute,
                                 TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection

from chalicelib.store import batch, pages
from chalicelib.store.base import StageTableMeta, TableModel, ordered_key
from chalicelib.store.webhooks import Subscription

KEPT_FOR = timedelta(days=30)  # DynamoDB's TTL removes an attempt (some time) after this
MAX_RESPONSE_HEADER_BYTES = 16 * 1024  # names and values, UTF-8; the rest is not kept
LIST_FIELDS = ("delivery_id", "event", "attempted_at", "status_code", "duration_ms",
               "succeeded", "error", "redelivery")


class _BySubscription(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_subscription"
        projection = IncludeProjection(list(LIST_FIELDS))

    subscription_id = UnicodeAttribute(hash_key=True)
    attempted_key = UnicodeAttribute(range_key=True)


class DeliveryAttempt(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "deliveries"

    id = UnicodeAttribute(hash_key=True)
    subscription_id = UnicodeAttribute()  # its key, the only one that may see it, is the subscription's
    delivery_id = UnicodeAttribute()
    event = UnicodeAttribute()
    attempted_at = UTCDateTimeAttribute()
    attempted_key = UnicodeAttribute()  # the log's order: attempt time, then id
    status_code = NumberAttribute(null=True)
    duration_ms = NumberAttribute()
    succeeded = BooleanAttribute()
    error = UnicodeAttribute(null=True)
    redelivery = BooleanAttribute(default=False)
    request_headers = JSONAttribute()
    request_body = UnicodeAttribute()  # the envelope as sent (ASCII JSON)
    response_headers = JSONAttribute(null=True)
    response_body = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()

    by_subscription = _BySubscription()


MODELS = (DeliveryAttempt,)


@dataclass(frozen=True)
class Attempt:
    """One POST as the delivery function saw it, ready to be logged."""

    subscription_id: str
    delivery_id: str
    event: str
    attempted_at: datetime
    request_headers: Mapping[str, str]
    request_body: bytes
    status_code: int | None
    duration_ms: int
    succeeded: bool
    error: str | None
    response_headers: Sequence[tuple[str, str]] | None
    response_body: str | None
    redelivery: bool = False


def bounded_headers(headers: Sequence[tuple[str, str]],
                    limit: int = MAX_RESPONSE_HEADER_BYTES) -> dict[str, str]:
    """Headers as a JSON object (repeated names joined with ", ", as HTTP allows), in order,
    up to ``limit`` bytes of names and values: the header that crosses it is cut there and
    the rest are left out, so no receiver can grow an item."""
    kept: dict[str, str] = {}
    used = 0
    for name, value in headers:
        cost = len(name.encode()) + len(value.encode()) + (2 if name in kept else 0)
        if used + cost > limit:
            room = limit - used - len(name.encode()) - (2 if name in kept else 0)
            if room > 0:
                cut = value.encode()[:room].decode(errors="ignore")
                kept[name] = f"{kept[name]}, {cut}" if name in kept else cut
            break
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
        used += cost
    return kept


def record(attempt: Attempt) -> DeliveryAttempt:
    """Store one attempt (a new id, expiring 30 days after it was made)."""
    attempt_id = str(uuid.uuid4())
    item = DeliveryAttempt(
        attempt_id, subscription_id=attempt.subscription_id, delivery_id=attempt.delivery_id, event=attempt.event,
        attempted_at=attempt.attempted_at,
        attempted_key=ordered_key(attempt.attempted_at, attempt_id),
        status_code=attempt.status_code, duration_ms=attempt.duration_ms,
        succeeded=attempt.succeeded, error=attempt.error, redelivery=attempt.redelivery,
        request_headers=dict(attempt.request_headers),
        request_body=attempt.request_body.decode("ascii"),
        response_headers=None if attempt.response_headers is None
        else bounded_headers(attempt.response_headers),
        response_body=attempt.response_body,
        expires_at=attempt.attempted_at + KEPT_FOR)
    item.save()
    return item


def get_attempt(attempt_id: str) -> DeliveryAttempt | None:
    try:
        return DeliveryAttempt.get(attempt_id, consistent_read=True)
    except DeliveryAttempt.DoesNotExist:
        return None


def attempt_with_subscription(subscription_id: str, attempt_id: str
                              ) -> tuple[Subscription | None, DeliveryAttempt | None]:
    """The subscription and the attempt, both read (consistently) in one BatchGetItem."""
    found = batch.get_items({Subscription: [subscription_id], DeliveryAttempt: [attempt_id]})
    return found[Subscription].get(subscription_id), found[DeliveryAttempt].get(attempt_id)


def listing(subscription_id: str) -> pages.Listing:
    """A subscription's attempts, newest first (ties by id, descending)."""
    return pages.Listing((pages.Source("subscription", DeliveryAttempt,
                                       DeliveryAttempt.by_subscription, subscription_id),),
                         order=lambda a: a.attempted_key, descending=True)
