"""``store.deliveries`` and the rotation bits of ``store.webhooks`` at their own interface:
the log's order, pages and projection, bounded items, one read for the attempt and its
subscription, and a rotated secret kept, replaced and forgotten without losing a race."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.store import deliveries, pages
from chalicelib.store import webhooks as store
from chalicelib.store.deliveries import Attempt, DeliveryAttempt
from chalicelib.store.pages import read_all

UTC = timezone.utc
AT = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)


def subscribe(key_id: str = "key-a") -> store.Subscription:
    return store.create(key_id=key_id, user_id=1, organisation_id=10, event="session.closed",
                        target_url="https://hooks.example.com/in", secret="a" * 64,
                        created_at=AT)


def attempt(subscription: store.Subscription, at: datetime = AT, **changes) -> Attempt:
    fields = dict(subscription_id=subscription.id, delivery_id=str(uuid.uuid4()),
                  event="session.closed", attempted_at=at,
                  request_headers={"Content-Type": "application/json"},
                  request_body=b'{"event":"session.closed"}', status_code=200, duration_ms=12,
                  succeeded=True, error=None, response_headers=[("Server", "x")],
                  response_body="ok")
    return Attempt(**{**fields, **changes})


# --- the log -------------------------------------------------------------------------------

def test_an_attempt_is_stored_with_everything_and_a_ttl_of_30_days():
    sub = subscribe()
    item = deliveries.record(attempt(sub, response_headers=[("A", "1"), ("B", "2"), ("A", "3")]))
    stored = deliveries.get_attempt(item.id)
    assert uuid.UUID(stored.id).version == 4
    assert (stored.subscription_id, stored.status_code, stored.succeeded,
            stored.error, stored.redelivery, stored.request_body, stored.response_body) == (
        sub.id, 200, True, None, False, '{"event":"session.closed"}', "ok")
    assert stored.response_headers == {"A": "1, 3", "B": "2"}  # repeated names joined
    assert stored.expires_at == AT + timedelta(days=30)
    assert DeliveryAttempt._ttl_attribute().attr_name == "expires_at"


def test_no_response_is_stored_as_nulls():
    item = deliveries.record(attempt(subscribe(), status_code=None, succeeded=False,
                                     error="timeout", response_headers=None,
                                     response_body=None))
    stored = deliveries.get_attempt(item.id)
    assert (stored.status_code, stored.error, stored.response_headers,
            stored.response_body) == (None, "timeout", None, None)


def test_the_log_is_newest_first_ties_by_id_descending_and_pages_exactly():
    sub, other = subscribe(), subscribe()
    ids = [deliveries.record(attempt(sub, AT + timedelta(seconds=n // 2))).id for n in range(7)]
    deliveries.record(attempt(other))
    expected = sorted(ids, key=lambda i: (ids.index(i) // 2, i), reverse=True)
    assert [a.id for a in read_all(deliveries.listing(sub.id))] == expected
    seen, positions = [], None
    while True:
        page = pages.read_page(deliveries.listing(sub.id), 3, positions)
        seen.append([a.id for a in page.items])
        if page.positions is None:
            break
        positions = page.positions
    assert seen == [expected[:3], expected[3:6], expected[6:]]


def test_the_index_holds_only_the_lists_fields(dynamodb_calls):
    sub = subscribe()
    deliveries.record(attempt(sub, request_body=b"x" * 100_000))
    dynamodb_calls.clear()
    [listed] = read_all(deliveries.listing(sub.id))
    assert listed.request_body is None and listed.response_headers is None
    assert listed.delivery_id and listed.status_code == 200
    [query] = dynamodb_calls.of("Query")
    assert query.params["IndexName"] == "by_subscription"
    projection = DeliveryAttempt.by_subscription.Meta.projection
    assert projection.projection_type == "INCLUDE"
    assert sorted(projection.non_key_attributes) == sorted(deliveries.LIST_FIELDS)


@pytest.mark.parametrize("limit", [10, 100, 16 * 1024])
def test_response_headers_are_kept_to_their_limit_in_order(limit):
    headers = [(f"X-{n:03d}", "v" * 97) for n in range(400)]  # 40 KB
    kept = deliveries.bounded_headers(headers, limit)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in kept.items())
    assert size <= limit
    assert size > limit - 110  # only what would cross the limit is cut
    assert list(kept) == [name for name, _ in headers][:len(kept)]


def test_headers_under_the_limit_are_kept_whole():
    headers = [("Server", "nginx"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert deliveries.bounded_headers(headers) == {"Server": "nginx", "Set-Cookie": "a=1, b=2"}


def test_a_multibyte_value_is_cut_on_a_character_boundary():
    kept = deliveries.bounded_headers([("X", "é" * 100)], limit=11)
    assert kept == {"X": "é" * 5}


def test_the_attempt_and_its_subscription_in_one_batch_read(dynamodb_calls):
    sub = subscribe()
    item = deliveries.record(attempt(sub))
    dynamodb_calls.clear()
    found_sub, found_attempt = deliveries.attempt_with_subscription(sub.id, item.id)
    assert (found_sub.id, found_sub.secret, found_attempt.id, found_attempt.request_body) == (
        sub.id, "a" * 64, item.id, '{"event":"session.closed"}')
    assert dynamodb_calls.operations == ["BatchGetItem"]
    assert all(table["ConsistentRead"]
               for table in dynamodb_calls.calls[0].params["RequestItems"].values())
    missing = str(uuid.uuid4())
    found_sub, found_attempt = deliveries.attempt_with_subscription(sub.id, missing)
    assert (found_sub.id, found_attempt) == (sub.id, None)
    found_sub, found_attempt = deliveries.attempt_with_subscription(missing, item.id)
    assert (found_sub, found_attempt.id) == (None, item.id)


# --- rotation ----------------------------------------------------------------------------------

def test_rotation_keeps_the_replaced_secret_until_the_overlap_ends(dynamodb_calls):
    sub = subscribe()
    dynamodb_calls.clear()
    until = AT + timedelta(hours=1)
    rotated = store.rotate_secret(sub.id, "key-a", "b" * 64, until)
    assert dynamodb_calls.operations == ["UpdateItem"]
    assert (rotated.secret, rotated.previous_secret, rotated.previous_secret_until,
            rotated.event, rotated.created_at) == ("b" * 64, "a" * 64, until, "session.closed", AT)
    assert rotated.secrets_at(until - timedelta(microseconds=1)) == ("b" * 64, "a" * 64)
    assert rotated.secrets_at(until) == ("b" * 64,)
    assert rotated.expired_overlap(until - timedelta(seconds=1)) is None
    assert rotated.expired_overlap(until) == until


def test_a_rotation_without_overlap_forgets_the_previous_secret_at_once():
    sub = subscribe()
    store.rotate_secret(sub.id, "key-a", "b" * 64, AT + timedelta(hours=1))
    rotated = store.rotate_secret(sub.id, "key-a", "c" * 64, None)
    assert (rotated.secret, rotated.previous_secret, rotated.previous_secret_until) == (
        "c" * 64, None, None)


def test_only_the_subscriptions_key_may_rotate_and_nothing_is_created():
    sub = subscribe()
    assert store.rotate_secret(sub.id, "key-b", "b" * 64, None) is None
    assert store.get_subscription(sub.id).secret == "a" * 64
    missing = str(uuid.uuid4())
    assert store.rotate_secret(missing, "key-a", "b" * 64, None) is None
    assert store.get_subscription(missing) is None


def test_a_delivery_after_the_overlap_forgets_the_old_secret():
    sub = subscribe()
    until = AT + timedelta(hours=1)
    store.rotate_secret(sub.id, "key-a", "b" * 64, until)
    store.record_delivery(sub.id, until, 200, False, expired_overlap=until)
    stored = store.get_subscription(sub.id)
    assert (stored.previous_secret, stored.previous_secret_until, stored.last_status_code) == (
        None, None, 200)


def test_a_rotation_between_reading_and_recording_is_not_forgotten():
    sub = subscribe()
    first = AT + timedelta(hours=1)
    store.rotate_secret(sub.id, "key-a", "b" * 64, first)
    # the delivery read the item when the first overlap was over; meanwhile, a new rotation
    second = AT + timedelta(days=1)
    store.rotate_secret(sub.id, "key-a", "c" * 64, second)
    store.record_delivery(sub.id, first, 500, True, expired_overlap=first)
    stored = store.get_subscription(sub.id)
    assert (stored.secret, stored.previous_secret, stored.previous_secret_until) == (
        "c" * 64, "b" * 64, second)
    assert (stored.last_status_code, stored.failure_count) == (500, 1)  # still recorded


def test_forgetting_never_recreates_a_deleted_subscription():
    sub = subscribe()
    until = AT + timedelta(hours=1)
    store.rotate_secret(sub.id, "key-a", "b" * 64, until)
    store.delete_subscription(sub.id, "key-a")
    store.record_delivery(sub.id, until, 200, False, expired_overlap=until)
    assert store.get_subscription(sub.id) is None
