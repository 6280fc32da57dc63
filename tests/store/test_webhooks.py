"""``store.webhooks`` at its own interface: per-key ownership, fan-out lookups, delivery records."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from chalicelib.store import webhooks as store
from chalicelib.store.webhooks import Subscription
from chalicelib.store.pages import read_all

UTC = timezone.utc
CREATED = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)
ALICE, BOB, CAROL = 1, 2, 3
ORG, OTHER_ORG = 10, 20


def subscribe(event: str = "session.closed", *, key_id: str = "key-a", user_id: int = ALICE,
              organisation_id: int | None = ORG, created_at: datetime = CREATED) -> Subscription:
    return store.create(key_id=key_id, user_id=user_id, organisation_id=organisation_id,
                        event=event, target_url="https://hooks.example.com/in",
                        secret="s" * 64, created_at=created_at)


def test_create_stores_the_subscription_with_its_fan_out_keys():
    subscription = subscribe()
    stored = store.get_subscription(subscription.id)
    assert (stored.key_id, stored.user_id, stored.organisation_id, stored.event,
            stored.target_url, stored.secret, stored.created_at, stored.failure_count,
            stored.last_delivery_at, stored.last_status_code) == (
        "key-a", ALICE, ORG, "session.closed", "https://hooks.example.com/in", "s" * 64,
        CREATED, 0, None, None)
    assert (stored.event_user, stored.event_organisation) == ("session.closed#1",
                                                              "session.closed#10")


def test_a_subscription_without_organisation_is_found_by_user_only():
    subscription = subscribe(organisation_id=None)
    assert store.get_subscription(subscription.id).event_organisation is None
    assert store.subscribers("session.closed", [ALICE], None) == [subscription.id]
    assert store.subscribers("session.closed", [], ORG) == []


def test_get_of_an_unknown_id_is_none():
    assert store.get_subscription(str(uuid.uuid4())) is None


def test_subscriptions_of_key_newest_first_ties_by_id_descending():
    old = subscribe(created_at=CREATED - timedelta(days=1))
    tied = [subscribe() for _ in range(3)]
    new = subscribe("invoice.paid", created_at=CREATED + timedelta(seconds=1))
    subscribe(key_id="key-b")
    assert [s.id for s in read_all(store.listing("key-a"))] == [
        new.id, *sorted((s.id for s in tied), reverse=True), old.id]
    assert read_all(store.listing("key-c")) == []


def test_subscribers_by_users_and_organisation_each_once(dynamodb_calls):
    alice_user = subscribe(organisation_id=None)
    alice_org = subscribe()                                   # found by user and organisation
    bob = subscribe(key_id="key-b", user_id=BOB)              # same organisation
    carol = subscribe(key_id="key-c", user_id=CAROL, organisation_id=OTHER_ORG)
    subscribe("invoice.paid")                                 # another event
    dynamodb_calls.clear()

    found = store.subscribers("session.closed", [ALICE, ALICE], ORG)
    assert sorted(found) == sorted([alice_user.id, alice_org.id, bob.id])
    assert len(found) == len(set(found))
    assert dynamodb_calls.operations == ["Query", "Query"]    # one per user, one per organisation
    assert sorted(store.subscribers("session.closed", [ALICE, CAROL], None)) == sorted(
        [alice_user.id, alice_org.id, carol.id])
    assert store.subscribers("project.created", [ALICE, BOB], ORG) == []


def test_subscribers_of_nobody_makes_no_call(dynamodb_calls):
    subscribe()
    dynamodb_calls.clear()
    assert store.subscribers("session.closed", [], None) == []
    assert dynamodb_calls.operations == []


def test_delete_by_its_key_removes_it_once():
    subscription = subscribe()
    assert store.delete_subscription(subscription.id, "key-a") is True
    assert store.get_subscription(subscription.id) is None
    assert store.delete_subscription(subscription.id, "key-a") is False


def test_delete_by_another_key_is_false_and_keeps_it():
    subscription = subscribe()
    assert store.delete_subscription(subscription.id, "key-b") is False
    assert store.get_subscription(subscription.id) is not None


def test_delete_of_an_unknown_id_is_false():
    assert store.delete_subscription(str(uuid.uuid4()), "key-a") is False


def test_delete_subscriptions_of_key_deletes_that_keys_only():
    subscribe()
    subscribe("invoice.paid")
    kept = subscribe(key_id="key-b")
    assert store.delete_subscriptions_of_key("key-a") == 2
    assert read_all(store.listing("key-a")) == []
    assert [s.id for s in read_all(store.listing("key-b"))] == [kept.id]
    assert store.delete_subscriptions_of_key("key-a") == 0


def test_record_delivery_sets_the_last_attempt_and_counts_failures():
    subscription = subscribe()
    first, second, third = (CREATED + timedelta(minutes=m) for m in (1, 2, 3))
    store.record_delivery(subscription.id, first, 500, failed=True)
    store.record_delivery(subscription.id, second, None, failed=True)  # no answer at all
    stored = store.get_subscription(subscription.id)
    assert (stored.last_delivery_at, stored.last_status_code, stored.failure_count) == (
        second, None, 2)
    store.record_delivery(subscription.id, third, 204, failed=False)
    stored = store.get_subscription(subscription.id)
    assert (stored.last_delivery_at, stored.last_status_code, stored.failure_count) == (
        third, 204, 2)


def test_record_delivery_never_recreates_a_deleted_subscription():
    subscription = subscribe()
    store.delete_subscription(subscription.id, "key-a")
    store.record_delivery(subscription.id, CREATED, 500, failed=True)
    assert store.get_subscription(subscription.id) is None


def test_concurrent_failures_are_all_counted(all_at_once):
    subscription = subscribe()
    all_at_once([lambda m=m: store.record_delivery(
        subscription.id, CREATED + timedelta(minutes=m), 503, failed=True) for m in range(20)])
    stored = store.get_subscription(subscription.id)
    assert stored.failure_count == 20 and stored.last_status_code == 503
