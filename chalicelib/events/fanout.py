"""Fan-out: each committed change's event becomes one SQS message per matching subscription.

The stream-triggered function runs :func:`handle_records` on a batch of DynamoDB Streams
records. Each record is decoded by the store, turned into its event by the pure
:func:`chalicelib.domain.events.derive`, and sent to the webhook queue once per
subscription to that event among its audience, with a ``delivery_id`` derived from
(stream record, subscription): a record processed again repeats its ids, so a receiver
can tell a repeat from a new delivery.

A message carries the event's data as of the change (the item may change or vanish
before delivery) and names its subscription, whose URL and secret the delivery reads
when it runs (a subscription deleted meanwhile gets nothing). Messages are batched by
bytes as well as by count, so no event meets SQS's limits (256 KiB a message, 1 MiB
and 10 entries a batch). Records are handled in stream order; the first that fails
ends the batch and is reported (``batchItemFailures``), so it and the records after it
are retried in order, and a record that keeps failing goes to the on-failure
destination without blocking its shard.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from chalicelib import aws, retry
from chalicelib.config import settings
from chalicelib.domain import events as rules
from chalicelib.events import messages, queue
from chalicelib.store import changes
from chalicelib.store import projects as project_store
from chalicelib.store import webhooks as store

log = logging.getLogger(__name__)

# delivery_id = uuid5(DELIVERY_NAMESPACE, "<stream record id>/<subscription id>")
DELIVERY_NAMESPACE = uuid.UUID("6b0b3c64-2f41-5b7e-9f0e-1c0a6f3d5e21")
SEND_ATTEMPTS = 3  # entries SQS refused in a batch are sent again this many times in all


class SendFailed(RuntimeError):
    """SQS kept refusing some of a record's messages; the record will be processed again."""


@dataclass(frozen=True)
class Published:
    """An event as it is sent: what a receiver and the tests see of it."""

    event: str
    occurred_at: int
    data: dict
    audience: rules.Audience
    record_id: str


def delivery_id(record_id: str, subscription_id: str) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{record_id}/{subscription_id}"))


def event_of(record: dict) -> tuple[changes.Change, rules.Event] | None:
    """The change and event of a stream record, or None when the change is no event."""
    change = changes.decode(record)
    if change is None:
        return None
    event = rules.derive(change.table, change.old, change.new)
    return None if event is None else (change, event)


def published(change: changes.Change, event: rules.Event) -> Published:
    """The event with its data (a session event reads its project's current name)."""
    name = ""
    if event.needs_project_name:
        project_id = event.item["project_id"]
        name = project_store.project_names([project_id]).get(project_id, "")
    return Published(event.name, change.occurred_at, rules.event_data(event, name),
                     event.audience, change.record_id)


def publish(record: dict) -> int:
    """Queue the deliveries of one stream record's event; returns how many were queued."""
    found = event_of(record)
    if found is None:
        return 0
    change, event = found
    subscription_ids = store.subscribers(event.name, event.audience.user_ids,
                                         event.audience.organisation_id)
    if not subscription_ids:
        return 0
    sent = published(change, event)
    send_messages([messages.event_message(sid, delivery_id(change.record_id, sid), sent.event,
                                          sent.occurred_at, sent.data)
                   for sid in subscription_ids])
    return len(subscription_ids)


def batches(bodies: Iterable[str]) -> list[list[str]]:
    """Bodies grouped for SendMessageBatch: at most 10 entries and 1 MiB of bodies each."""
    grouped: list[list[str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if length > queue.MAX_MESSAGE_BYTES:
            raise ValueError(f"a webhook message of {length} bytes exceeds SQS's limit")
        if not grouped or len(grouped[-1]) == queue.MAX_BATCH_ENTRIES \
                or size + length > queue.MAX_BATCH_BYTES:
            grouped.append([])
            size = 0
        grouped[-1].append(body)
        size += length
    return grouped


def send_messages(bodies: list[str], sqs: Any = None,
                  sleep: Callable[[float], None] = time.sleep) -> None:
    """Send every body to the webhook queue, or raise :class:`SendFailed`. Entries SQS
    refused are sent again after a backoff."""
    sqs = sqs or aws.client("sqs")
    url = settings().webhook_queue_url
    for batch in batches(bodies):
        pending = dict(enumerate(batch))
        for attempt in range(1, SEND_ATTEMPTS + 1):
            result = sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": body} for i, body in pending.items()])
            pending = {int(f["Id"]): pending[int(f["Id"])] for f in result.get("Failed", [])}
            if not pending:
                break
            if attempt < SEND_ATTEMPTS:
                sleep(retry.delay(attempt))
        if pending:
            raise SendFailed(f"SQS refused {len(pending)} webhook deliveries")


def handle_records(records: list[dict],
                   publish_one: Callable[[dict], int] = publish) -> dict:
    """The stream function's work on one batch: the Lambda partial-batch response."""
    for record in records:
        try:
            publish_one(record)
        except Exception:
            sequence = record.get("dynamodb", {}).get("SequenceNumber")
            log.exception("fan-out of stream record %s (%s) failed", record.get("eventID"),
                          sequence)
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
    return {"batchItemFailures": []}
