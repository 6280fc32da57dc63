"""``services.webhooks`` with a fixed clock and resolver: subscriptions belong to one API key."""
from __future__ import annotations

import re
import uuid

import pytest

from chalicelib.auth.caller import Caller
from chalicelib.domain import fields
from chalicelib.errors import NotFound, ValidationError
from chalicelib.events.outbound import INVALID_URL
from chalicelib.services import webhooks as service
from chalicelib.store import webhooks as store
from tests.services.conftest import NOW, caller_of, clock

TARGET = "https://hooks.example.com/in"


def public(host: str, port: int) -> list[str]:
    """A resolver that answers every name with a public address (no DNS in tests)."""
    return ["93.184.216.34"]


def private(host: str, port: int) -> list[str]:
    return ["10.0.0.7"]


@pytest.fixture
def other_key(account) -> Caller:
    """The same user through another of their keys."""
    from chalicelib.services import accounts
    key, _ = accounts.create_key(account.user_id, "Other key", "write")
    return caller_of(account, key_id=key.key_id)


def subscribe(caller: Caller, event: str = "invoice.paid"):
    return service.create_subscription(caller, {"event": event, "target_url": TARGET},
                                       resolver=public, clock=clock)


def test_create_subscription_stamps_the_clocks_time_and_a_fresh_secret(caller):
    subscription = subscribe(caller)
    stored = store.get_subscription(subscription.id)
    assert (stored.created_at, stored.key_id, stored.user_id, stored.organisation_id,
            stored.event, stored.target_url) == (
        NOW, caller.key_id, caller.user_id, caller.organisation_id, "invoice.paid", TARGET)
    assert re.fullmatch(r"[0-9a-f]{64}", stored.secret)
    assert subscribe(caller).secret != stored.secret


def test_create_subscription_reports_the_event_and_the_url_together(caller):
    with pytest.raises(ValidationError) as raised:
        service.create_subscription(caller, {"event": "invoice.deleted",
                                             "target_url": "https://hooks.example.com/in"},
                                    resolver=private, clock=clock)
    assert raised.value.errors == {
        "event": [fields.INVALID_CHOICE.format(value="invoice.deleted")],
        "target_url": [f"{INVALID_URL} hooks.example.com resolves to a blocked address "
                       "(10.0.0.7)."]}
    assert service.list_subscriptions(caller, {}).items == []


def test_subscriptions_belong_to_the_key_that_made_them(caller, other_key):
    mine = subscribe(caller)
    theirs = subscribe(other_key, "session.closed")
    assert [s.id for s in service.list_subscriptions(caller, {}).items] == [mine.id]
    assert service.get_subscription(caller, mine.id).id == mine.id
    for subscription_id in (theirs.id, "not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            service.get_subscription(caller, subscription_id)


def test_delete_by_another_key_is_not_found_and_keeps_it(caller, other_key):
    subscription = subscribe(caller)
    for subscription_id in (subscription.id, "not-a-uuid"):
        with pytest.raises(NotFound):
            service.delete_subscription(other_key, subscription_id)
    assert store.get_subscription(subscription.id) is not None
    service.delete_subscription(caller, subscription.id)
    assert store.get_subscription(subscription.id) is None
    with pytest.raises(NotFound):
        service.delete_subscription(caller, subscription.id)
