"""``store.batch``: items of several tables by id in as few BatchGetItem calls as allowed,
and keys DynamoDB leaves unprocessed asked for again after a backoff, a bounded number of
times."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from chalicelib import aws
from chalicelib.store import batch
from chalicelib.store import webhooks as store
from chalicelib.store.accounts import ApiKey
from chalicelib.store.webhooks import Subscription

AT = datetime(2026, 6, 26, 9, 0, tzinfo=timezone.utc)


def subscribe(key_id: str = "key-a") -> Subscription:
    return store.create(key_id=key_id, user_id=1, organisation_id=10, event="session.closed",
                        target_url="https://hooks.example.com/in", secret="a" * 64,
                        created_at=AT)


def test_items_of_two_tables_in_one_call_each_id_once(dynamodb_calls):
    subs = [subscribe() for _ in range(3)]
    missing = str(uuid.uuid4())
    dynamodb_calls.clear()
    found = batch.get_items({Subscription: [subs[0].id, subs[1].id, subs[0].id, missing],
                             ApiKey: ["nokey"]})
    assert sorted(found[Subscription]) == sorted([subs[0].id, subs[1].id])
    assert found[Subscription][subs[1].id].secret == "a" * 64
    assert found[ApiKey] == {}
    [call] = dynamodb_calls.calls
    request = call.params["RequestItems"]
    assert [len(t["Keys"]) for t in request.values()] == [3, 1]  # the repeated id once
    assert all(t["ConsistentRead"] for t in request.values())


def test_more_than_a_hundred_ids_take_a_call_per_hundred(dynamodb_calls):
    sub = subscribe()
    ids = [sub.id] + [str(uuid.uuid4()) for _ in range(150)]
    dynamodb_calls.clear()
    assert list(batch.get_items({Subscription: ids})[Subscription]) == [sub.id]
    assert [sum(len(t["Keys"]) for t in c.params["RequestItems"].values())
            for c in dynamodb_calls.of("BatchGetItem")] == [100, 51]
    assert batch.get_items({Subscription: []}) == {Subscription: {}}


class Throttled:
    """The shared DynamoDB client, but its first ``refusals`` BatchGetItems process nothing."""

    def __init__(self, real, refusals: int):
        self.real, self.refusals, self.calls = real, refusals, 0

    def batch_get_item(self, RequestItems):
        self.calls += 1
        if self.calls <= self.refusals:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return self.real.batch_get_item(RequestItems=RequestItems)


@pytest.fixture
def throttled(monkeypatch):
    real = aws.client("dynamodb")

    def install(refusals: int) -> Throttled:
        fake = Throttled(real, refusals)
        monkeypatch.setattr(aws, "client", lambda service: fake if service == "dynamodb"
                            else real)
        return fake
    return install


def test_unprocessed_keys_are_asked_for_again_after_a_growing_wait(throttled):
    sub = subscribe()
    fake, waits = throttled(2), []
    found = batch.get_items({Subscription: [sub.id]}, sleep=waits.append)
    assert list(found[Subscription]) == [sub.id]
    assert (fake.calls, waits) == (3, [0.05, 0.1])


def test_keys_left_unprocessed_every_time_fail_the_read(throttled):
    sub = subscribe()
    fake, waits = throttled(batch.READS), []
    with pytest.raises(batch.Unprocessed):
        batch.get_items({Subscription: [sub.id]}, sleep=waits.append)
    assert fake.calls == batch.READS == 5
    assert waits == [0.05, 0.1, 0.2, 0.4]  # none after the last call
    # one more try would have found it: the bound is READS calls, not fewer
    fake, waits = throttled(batch.READS - 1), []
    assert list(batch.get_items({Subscription: [sub.id]}, sleep=waits.append)[Subscription]) \
        == [sub.id]
