"""Fan-out: one SQS message per (event, subscription), each with its fixed ``delivery_id``.

Registered as the event bus's publisher by the app. The message names the subscription,
not its URL or secret: delivery reads those when it runs, so a subscription deleted (or
whose key was revoked) meanwhile gets nothing. The request never waits on a receiver.
"""
from __future__ import annotations

import json
import uuid

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.events.bus import Change
from chalicelib.store import webhooks as store

SQS_BATCH = 10


def delivery_messages(change: Change, subscription_ids: list[str]) -> list[dict]:
    """The queue messages for one change: one per subscription."""
    return [{"subscription_id": sid, "delivery_id": str(uuid.uuid4()), "event": change.event,
             "occurred_at": change.occurred_at, "data": change.data}
            for sid in subscription_ids]


def publish(change: Change) -> int:
    """Queue the deliveries of ``change``; returns how many were queued."""
    subscription_ids = store.subscribers(change.event, change.audience.user_ids,
                                         change.audience.organisation_id)
    messages = delivery_messages(change, subscription_ids)
    sqs = aws.client("sqs")
    for start in range(0, len(messages), SQS_BATCH):
        batch = messages[start:start + SQS_BATCH]
        result = sqs.send_message_batch(QueueUrl=settings().webhook_queue_url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(batch)])
        if result.get("Failed"):
            raise RuntimeError(f"SQS refused {len(result['Failed'])} webhook deliveries")
    return len(messages)
