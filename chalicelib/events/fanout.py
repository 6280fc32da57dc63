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
and 10 entries a batch), and the batches are filled across the records of one
invocation, which also share their subscriber queries and project names
(:class:`Lookups`). Records are handled in stream order; the first that fails, or is
not sent whole, ends the batch and is reported (``batchItemFailures``), so it and the
records after it are retried in order, and a record that keeps failing goes to the
on-failure destination without blocking its shard.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
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
    """SQS kept refusing some messages; their records will be processed again."""


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


@dataclass
class Lookups:
    """What the records of one invocation share: who subscribed to an event among an
    audience (a batch of records is often one user's changes) and projects' current names,
    each read once per invocation."""

    subscribers: dict[tuple[str, rules.Audience], list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def subscribers_of(self, event: rules.Event) -> list[str]:
        key = (event.name, event.audience)
        if key not in self.subscribers:
            self.subscribers[key] = store.subscribers(event.name, event.audience.user_ids,
                                                      event.audience.organisation_id)
        return self.subscribers[key]

    def project_name(self, project_id: str) -> str:
        if project_id not in self.names:
            self.names[project_id] = project_store.project_names([project_id]).get(
                project_id, "")
        return self.names[project_id]


def published(change: changes.Change, event: rules.Event,
              lookups: Lookups | None = None) -> Published:
    """The event with its data (a session event reads its project's current name)."""
    lookups = lookups or Lookups()
    name = lookups.project_name(event.item["project_id"]) if event.needs_project_name else ""
    return Published(event.name, change.occurred_at, rules.event_data(event, name),
                     event.audience, change.record_id)


def bodies_of(record: dict, lookups: Lookups) -> list[str]:
    """The queue messages of one stream record's event: one per subscription to it."""
    found = event_of(record)
    if found is None:
        return []
    change, event = found
    subscription_ids = lookups.subscribers_of(event)
    if not subscription_ids:
        return []
    sent = published(change, event, lookups)
    return [messages.event_message(sid, delivery_id(change.record_id, sid), sent.event,
                                   sent.occurred_at, sent.data) for sid in subscription_ids]


def message_bytes(body: str) -> int:
    """A message's size; ValueError past SQS's limit for one message."""
    length = len(body.encode())
    if length > queue.MAX_MESSAGE_BYTES:
        raise ValueError(f"a webhook message of {length} bytes exceeds SQS's limit")
    return length


def batches(bodies: Iterable[str]) -> list[list[str]]:
    """Bodies grouped for SendMessageBatch: at most 10 entries and 1 MiB of bodies each."""
    grouped: list[list[str]] = []
    size = 0
    for body in bodies:
        length = message_bytes(body)
        if not grouped or len(grouped[-1]) == queue.MAX_BATCH_ENTRIES \
                or size + length > queue.MAX_BATCH_BYTES:
            grouped.append([])
            size = 0
        grouped[-1].append(body)
        size += length
    return grouped


def send_batch(batch: list[str], sqs: Any = None,
               sleep: Callable[[float], None] = time.sleep) -> None:
    """One SendMessageBatch to the webhook queue; entries SQS refused are sent again after
    a backoff, and :class:`SendFailed` when it keeps refusing some."""
    sqs = sqs or aws.client("sqs")
    url = settings().webhook_queue_url
    pending = dict(enumerate(batch))
    for attempt in range(1, SEND_ATTEMPTS + 1):
        result = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": body} for i, body in pending.items()])
        pending = {int(f["Id"]): pending[int(f["Id"])] for f in result.get("Failed", [])}
        if not pending:
            return
        if attempt < SEND_ATTEMPTS:
            sleep(retry.delay(attempt))
    raise SendFailed(f"SQS refused {len(pending)} webhook deliveries")


def handle_records(records: list[dict],
                   messages_of: Callable[[dict, Lookups], list[str]] = bodies_of,
                   send_one: Callable[[list[str]], None] = send_batch) -> dict:
    """The stream function's work on one batch: the Lambda partial-batch response.

    The records' messages are sent in stream order, pooled into full SendMessageBatch
    calls across records. The first record that fails, or whose messages could not all
    be sent (the first record with a message in the batch that failed), is reported:
    every record before it was sent whole.
    """
    lookups = Lookups()
    pending: list[tuple[int, str]] = []  # (record's index, message body), in stream order

    def send(keep_last: bool) -> int | None:
        """Send the pending bodies' batches (but the last, which may fill up further);
        the index of the first record not sent whole when a batch failed, else None."""
        nonlocal pending
        grouped = batches([body for _, body in pending])
        for batch in grouped[:-1] if keep_last else grouped:
            try:
                send_one(batch)
            except Exception:
                log.exception("sending webhook deliveries failed")
                return pending[0][0]
            pending = pending[len(batch):]
        return None

    def failure(index: int) -> dict:
        record = records[index]
        sequence = record.get("dynamodb", {}).get("SequenceNumber")
        log.error("fan-out of stream record %s (%s) failed", record.get("eventID"), sequence)
        return {"batchItemFailures": [{"itemIdentifier": sequence}]}

    for index, record in enumerate(records):
        try:
            bodies = messages_of(record, lookups)
            for body in bodies:
                message_bytes(body)  # one SQS would refuse fails its record, here
        except Exception:
            log.exception("stream record %s could not be fanned out", record.get("eventID"))
            unsent = send(keep_last=False)
            return failure(index if unsent is None else unsent)
        pending += [(index, body) for body in bodies]
        unsent = send(keep_last=True)
        if unsent is not None:
            return failure(unsent)
    unsent = send(keep_last=False)
    return {"batchItemFailures": []} if unsent is None else failure(unsent)
