"""The webhook tools' calls beyond DynamoDB: ping and redeliver queue exactly one SQS message
each (they are requests to send); the log, an attempt and a rotation call no SQS at all.
And the delivery function's calls per message."""
from collections import Counter

import pytest

from bench.calls import HANDLER, summarise
from bench.operations import OPERATIONS
from tests.bench.test_call_budget import counted, counter  # noqa: F401 (fixtures)

SENDS = {"POST /webhooks/{id}/ping/": 1,
         "POST /webhooks/{id}/deliveries/{attempt_id}/redeliver/": 1,
         "GET /webhooks/{id}/deliveries/": 0,
         "GET /webhooks/{id}/deliveries/{attempt_id}/": 0,
         "POST /webhooks/{id}/rotate_secret/": 0}


@pytest.mark.parametrize("name", sorted(SENDS))
def test_sqs_calls_of_the_webhook_tools(counted, name):
    world, client, counter = counted
    operation = next(o for o in OPERATIONS if o.name == name)
    path, body = operation.request(world)
    with counter.counting() as calls:
        response = client.request(operation.method, path, body)
    assert response.status_code < 300, response.text
    sqs = Counter({op: n for op, n in summarise(calls)[HANDLER].items()
                   if op.startswith("sqs.")})
    assert sqs == (Counter({"sqs.SendMessage": 1}) if SENDS[name] else Counter())


def test_a_delivery_batch_reads_its_subscriptions_and_keys_once(counted):
    """Ten messages for two subscriptions of one key: one BatchGetItem of the subscriptions,
    one of their key, then per message only its log entry and its outcome (the workers'
    calls counted too)."""
    from chalicelib import aws
    from chalicelib.events import messages
    from chalicelib.events.delivery import Deliverer
    world, client, counter = counted
    ids = [world.webhook_id, world.subscription("invoice.paid")]
    records = [(f"m{n}", messages.event_message(ids[n % 2], f"d{n}", "invoice.paid", 0, {}))
               for n in range(10)]
    with counter.counting() as calls, aws.counting_calls() as invocation:
        result = Deliverer().deliver_batch(records)  # to a closed port: refused at once
    assert result == {"batchItemFailures": []}
    assert summarise(calls)[HANDLER] == Counter({"dynamodb.BatchGetItem": 2,
                                                 "dynamodb.PutItem": 10,
                                                 "dynamodb.UpdateItem": 10})
    assert len(invocation) == 22  # the invocation's own count sees the pool's calls
