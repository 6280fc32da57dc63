"""The webhook queue's messages, written and read in one place: the fan-out, the API's pings
and redeliveries write them, the delivery function reads them.

A message names its subscription (whose URL, secret, key and plan the delivery reads when
it runs) and is either an event for it -- its delivery id, name, time and data as of the
change -- or the redelivery of a logged attempt, whose stored envelope is sent again (so
the message stays small). Light on purpose: the API's request path imports it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib.domain import events as rules

REDELIVER = "redeliver_attempt_id"  # a message with this key resends a logged attempt


class BrokenMessage(ValueError):
    """A queue message that is not a delivery this code wrote."""


@dataclass(frozen=True)
class Message:
    """One queued delivery: an event (``event`` ... ``data``) or a logged attempt to resend."""

    subscription_id: str
    event: str | None = None
    delivery_id: str | None = None
    occurred_at: int | None = None
    data: object = None
    attempt_id: str | None = None  # set for a redelivery, and then only it


def _body(message: dict) -> str:
    # ASCII JSON: SQS refuses some Unicode characters in bodies
    return json.dumps(message, separators=(",", ":"))


def event_message(subscription_id: str, delivery_id: str, event: str, occurred_at: int,
                  data: dict) -> str:
    """An event (or a ping) for one subscription."""
    return _body({"subscription_id": subscription_id, "delivery_id": delivery_id,
                  "event": event, "occurred_at": occurred_at, "data": data})


def ping_message(subscription_id: str, delivery_id: str, occurred_at: int) -> str:
    """A ping, in the fan-out's message shape: the delivery function treats it like an event."""
    return event_message(subscription_id, delivery_id, rules.PING, occurred_at,
                         rules.ping_data(subscription_id))


def redelivery_message(subscription_id: str, attempt_id: str) -> str:
    """The redelivery of a logged attempt of this subscription."""
    return _body({"subscription_id": subscription_id, REDELIVER: attempt_id})


def read(raw: str) -> Message:
    """A queue message body as a :class:`Message`; :class:`BrokenMessage` when it is none."""
    try:
        message = json.loads(raw)
        subscription_id = message["subscription_id"]
        if not isinstance(subscription_id, str):
            raise TypeError("subscription_id")
        if REDELIVER in message:
            attempt_id = message[REDELIVER]
            if not isinstance(attempt_id, str):
                raise TypeError(REDELIVER)
            return Message(subscription_id, attempt_id=attempt_id)
        return Message(subscription_id, event=message["event"],
                       delivery_id=message["delivery_id"],
                       occurred_at=message["occurred_at"], data=message["data"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BrokenMessage("not a webhook delivery") from exc
