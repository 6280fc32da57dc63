"""Deliveries an integrator asks for: a ping, or the redelivery of a logged attempt.

They are requests to send, not changes of data, so they are the only SQS messages the
API itself sends (one SendMessage each); everything else is queued by the fan-out from
the change streams. A message names its subscription, as the fan-out's do, so the
delivery function checks the subscription, its key and its plan when it runs
(``events.messages`` writes and reads every message).
"""
from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.domain import events as rules
from chalicelib.events import messages


def ping_message(subscription_id: str, delivery_id: str, occurred_at: int) -> str:
    """A ping, in the fan-out's message shape: the delivery function treats it like an event."""
    return messages.event_message(subscription_id, delivery_id, rules.PING, occurred_at,
                                  rules.ping_data(subscription_id))


def send(body: str, sqs: Any = None) -> None:
    """Queue one message on the webhook queue."""
    (sqs or aws.client("sqs")).send_message(QueueUrl=settings().webhook_queue_url,
                                            MessageBody=body)
