"""The webhook tools' calls beyond DynamoDB: ping and redeliver queue exactly one SQS message
each (they are requests to send); the log, an attempt and a rotation call no SQS at all."""
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
