"""Deliveries an integrator asks for: a ping, or the redelivery of a logged attempt.

They are requests to send, not changes of data, so they are the only SQS messages the
API itself sends (one SendMessage each); everything else is queued by the fan-out from
the change streams. A message names its subscription, as the fan-out's do, so the
delivery function checks the subscription, its key and its plan when it runs
(``events.messages`` writes and reads every message).
"""
from __future__ import annotations

from chalicelib import aws
from chalicelib.config import settings


def send(body: str) -> None:
    """Queue one message (``events.messages`` writes it) on the webhook queue."""
    aws.client("sqs").send_message(QueueUrl=settings().webhook_queue_url, MessageBody=body)
