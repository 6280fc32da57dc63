"""The webhook queue, its dead-letter queue and the change streams' failure queue: their
settings (one source for bootstrap and the deployment template), SQS's size limits, and
their creation by ``bootstrap``."""
from __future__ import annotations

import json

from chalicelib import aws
from chalicelib.config import Settings, settings

MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
VISIBILITY_TIMEOUT_SECONDS = 6 * 60  # ≥ 6× the delivery function's timeout (AWS's advice)

# SQS's limits (SendMessage / SendMessageBatch): a message, and a batch's entries and bytes.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 1024 * 1024

# The fan-out's event source mapping (the tables' streams): a record that keeps failing is
# retried (bisecting its batch) until it is this old, then its description goes to the
# failure queue and the shard moves on. No retry count: Lambda retries at once, so any
# count is spent in minutes and an SQS outage longer than that would drop events; six
# hours outlasts an outage, and the fan-out's IteratorAge alarm shows a stuck shard long
# before (the stream keeps records 24 hours).
STREAM_MAX_RETRY_ATTEMPTS = -1  # AWS's "infinite": until MaximumRecordAgeInSeconds
STREAM_MAX_RECORD_AGE_SECONDS = 6 * 3600
STREAM_STUCK_ALARM_SECONDS = 15 * 60  # the fan-out's oldest unhandled change, alarmed
STREAM_BATCH_SIZE = 100
# The delivery function's SQS event source: messages a batch (the concurrent POSTs).
DELIVERY_BATCH_SIZE = 10


def dead_letter_queue_name(conf: Settings | None = None) -> str:
    """The webhook queue's dead-letter queue, for ``conf`` (default: the process's settings)."""
    return (conf or settings()).webhook_queue_name + "-dlq"


def stream_failure_queue_name(conf: Settings | None = None) -> str:
    """Where the fan-out's event source mapping sends records it gave up on."""
    return f"{(conf or settings()).table_prefix}-events-dlq"


def _create(sqs, name: str, attributes: dict[str, str]) -> str:
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def create_queues() -> str:
    """Create the webhook queue, its dead-letter queue and the streams' failure queue
    (idempotent); returns the webhook queue's URL."""
    sqs = aws.client("sqs")
    _create(sqs, stream_failure_queue_name(), {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    dlq_url = _create(sqs, dead_letter_queue_name(),
                      {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return _create(sqs, settings().webhook_queue_name, {
        "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    })
