"""Webhook subscriptions in DynamoDB: listed by key, found by (event, user) and (event, organisation).

Fan-out asks "who subscribed to this event among these users / this organisation?";
two composite index keys (event#user, event#organisation) answer each with one Query. Delivery outcomes
are recorded with one UpdateItem that never recreates a deleted subscription.

A rotated secret is kept on the item, with the end of its overlap, until a delivery
finds its overlap over (its outcome update removes it) or the next rotation replaces it.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Iterable

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.store import batch, pages
from chalicelib.store.base import StageTableMeta, TableModel, condition_failed, ordered_key


class _ByKey(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_key"
        projection = AllProjection()

    key_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _ByEventUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_event_user"
        projection = KeysOnlyProjection()

    event_user = UnicodeAttribute(hash_key=True)


class _ByEventOrganisation(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_event_organisation"
        projection = KeysOnlyProjection()

    event_organisation = UnicodeAttribute(hash_key=True)


class Subscription(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "webhooks"

    id = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute()
    user_id = NumberAttribute()
    organisation_id = NumberAttribute(null=True)
    event = UnicodeAttribute()
    target_url = UnicodeAttribute()
    secret = UnicodeAttribute()
    previous_secret = UnicodeAttribute(null=True)  # the secret a rotation replaced ...
    previous_secret_until = UTCDateTimeAttribute(null=True)  # ... and when it stops signing
    created_at = UTCDateTimeAttribute()
    last_delivery_at = UTCDateTimeAttribute(null=True)
    last_status_code = NumberAttribute(null=True)
    failure_count = NumberAttribute(default=0)
    event_user = UnicodeAttribute()
    event_organisation = UnicodeAttribute(null=True)
    created_key = UnicodeAttribute()  # the key's list order: creation time, then id

    by_key = _ByKey()
    by_event_user = _ByEventUser()
    by_event_organisation = _ByEventOrganisation()

    def secrets_at(self, moment: datetime) -> tuple[str, ...]:
        """The secrets that sign a delivery made at ``moment``: the current one, then the
        previous one while its overlap lasts."""
        until = self.previous_secret_until
        if self.previous_secret and until is not None and moment < until:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def expired_overlap(self, moment: datetime) -> datetime | None:
        """The end of a previous secret's overlap that is over at ``moment`` (None: none)."""
        if self.previous_secret_until is not None and moment >= self.previous_secret_until:
            return self.previous_secret_until
        return None

    @staticmethod
    def user_key(event: str, user_id: int) -> str:
        return f"{event}#{user_id}"

    @staticmethod
    def organisation_key(event: str, organisation_id: int) -> str:
        return f"{event}#{organisation_id}"


MODELS = (Subscription,)


def get_subscription(subscription_id: str) -> Subscription | None:
    try:
        return Subscription.get(subscription_id, consistent_read=True)
    except Subscription.DoesNotExist:
        return None


def get_subscriptions(subscription_ids: Iterable[str]) -> dict[str, Subscription]:
    """Subscriptions by id (strongly consistent BatchGetItem); deleted ones are absent."""
    return batch.get_items({Subscription: subscription_ids})[Subscription]


def create(*, key_id: str, user_id: int, organisation_id: int | None, event: str,
           target_url: str, secret: str, created_at: datetime) -> Subscription:
    """Store a new subscription, indexed for fan-out by (event, user) and (event, organisation)."""
    subscription_id = str(uuid.uuid4())
    subscription = Subscription(
        subscription_id, key_id=key_id, user_id=user_id, organisation_id=organisation_id,
        event=event, target_url=target_url, secret=secret, created_at=created_at,
        created_key=ordered_key(created_at, subscription_id),
        failure_count=0, event_user=Subscription.user_key(event, user_id),
        event_organisation=None if organisation_id is None
        else Subscription.organisation_key(event, organisation_id))
    subscription.save(condition=Subscription.id.does_not_exist())
    return subscription


def listing(key_id: str) -> pages.Listing:
    """The key's subscriptions, newest first (ties by id, descending)."""
    return pages.Listing((pages.Source("key", Subscription, Subscription.by_key, key_id),),
                         order=lambda s: s.created_key, descending=True)


def subscribers(event: str, user_ids: Iterable[int], organisation_id: int | None) -> list[str]:
    """Ids of the subscriptions to ``event`` of these users or of this organisation."""
    found: list[str] = []
    for user_id in sorted(set(user_ids)):
        found.extend(s.id for s in Subscription.by_event_user.query(
            Subscription.user_key(event, user_id)))
    if organisation_id is not None:
        found.extend(s.id for s in Subscription.by_event_organisation.query(
            Subscription.organisation_key(event, organisation_id)))
    return list(dict.fromkeys(found))


def delete_subscription(subscription_id: str, key_id: str) -> bool:
    """Delete a subscription of this key; False when there is none."""
    try:
        Subscription(subscription_id).delete(condition=Subscription.key_id == key_id)
    except DeleteError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


def delete_subscriptions_of_key(key_id: str) -> int:
    deleted = 0
    for subscription in Subscription.by_key.query(key_id):
        deleted += delete_subscription(subscription.id, key_id)
    return deleted


def record_delivery(subscription_id: str, when: datetime, status_code: int | None,
                    failed: bool, *, expired_overlap: datetime | None = None) -> None:
    """Set the last attempt's time and status, and count a failure, in one atomic update.

    ``expired_overlap``: the end of a previous secret's overlap the delivery found over; the
    same update forgets that secret, unless a rotation has replaced it meanwhile.
    """
    actions = [Subscription.last_delivery_at.set(when),
               Subscription.last_status_code.set(status_code) if status_code is not None
               else Subscription.last_status_code.remove()]
    if failed:
        actions.append(Subscription.failure_count.add(1))
    exists = Subscription.id.exists()
    if expired_overlap is not None:
        forget = [Subscription.previous_secret.remove(),
                  Subscription.previous_secret_until.remove()]
        if _update(subscription_id, actions + forget,
                   exists & (Subscription.previous_secret_until == expired_overlap)):
            return
        # deleted, or rotated again since it was read: record the outcome alone
    _update(subscription_id, actions, exists)


def _update(subscription_id: str, actions: list, condition) -> bool:
    """One conditional UpdateItem; False when its condition failed."""
    try:
        Subscription(subscription_id).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


def rotate_secret(subscription_id: str, key_id: str, secret: str,
                  previous_until: datetime | None) -> Subscription | None:
    """Give a subscription of this key a new secret; the replaced one keeps signing until
    ``previous_until`` (None: it stops now). One UpdateItem; None when there is no such
    subscription."""
    subscription = Subscription(subscription_id)
    actions = [Subscription.secret.set(secret)]
    if previous_until is None:
        actions += [Subscription.previous_secret.remove(),
                    Subscription.previous_secret_until.remove()]
    else:  # the value before this update: DynamoDB evaluates every SET against the old item
        actions += [Subscription.previous_secret.set(Subscription.secret),
                    Subscription.previous_secret_until.set(previous_until)]
    try:
        subscription.update(actions=actions, condition=Subscription.key_id == key_id)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return None
    return subscription
