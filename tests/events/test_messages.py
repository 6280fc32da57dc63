"""The queue's one message format: what the fan-out and the API write, the delivery reads back."""
import json

import pytest

from chalicelib.events import messages
from chalicelib.events.messages import BrokenMessage, Message


def test_an_event_message_reads_back_as_written():
    body = messages.event_message("s1", "d1", "session.closed", 1781434200,
                                  {"description": "Café ☕"})
    assert body.isascii()  # SQS refuses some Unicode characters in bodies
    assert messages.read(body) == Message("s1", event="session.closed", delivery_id="d1",
                                          occurred_at=1781434200,
                                          data={"description": "Café ☕"})


def test_a_redelivery_names_only_its_attempt():
    body = messages.redelivery_message("s1", "a1")
    assert json.loads(body) == {"subscription_id": "s1", messages.REDELIVER: "a1"}
    assert messages.read(body) == Message("s1", attempt_id="a1")


@pytest.mark.parametrize("body", [
    "{not json", "[]", "null", "{}", '{"subscription_id": 7, "event": "x", "delivery_id": "d", '
    '"occurred_at": 1, "data": {}}', '{"subscription_id": "s1", "redeliver_attempt_id": 7}',
    '{"subscription_id": "s1", "event": "x", "delivery_id": "d", "occurred_at": 1}'])
def test_anything_else_is_a_broken_message(body):
    with pytest.raises(BrokenMessage):
        messages.read(body)
