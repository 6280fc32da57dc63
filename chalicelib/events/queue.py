"""The webhook queue and its dead-letter queue: their settings (one source for bootstrap and
the deployment template) and their creation by ``bootstrap``."""
from __future__ import annotations

import json

from chalicelib import aws
from chalicelib.config import settings

MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
VISIBILITY_TIMEOUT_SECONDS = 6 * 60  # ≥ 6× the delivery function's timeout (AWS's advice)


def dead_letter_queue_name() -> str:
    return settings().webhook_queue_name + "-dlq"


def create_queues() -> str:
    """Create the webhook queue and its dead-letter queue (idempotent); returns the queue URL."""
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName=dead_letter_queue_name(), Attributes={
        "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    return sqs.create_queue(QueueName=settings().webhook_queue_name, Attributes={
        "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                     "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    })["QueueUrl"]
