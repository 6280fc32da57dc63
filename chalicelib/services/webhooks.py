"""Webhook subscriptions: created by, visible to and deleted by one API key; their delivery
log, pings, redeliveries and secret rotation (SPEC section 7)."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Callable, Mapping

from chalicelib.auth.caller import Caller
from chalicelib.config import settings
from chalicelib.domain import schemas
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.errors import ApiError, NotFound, ValidationError
from chalicelib.events import manual, messages
from chalicelib.services import listing
from chalicelib.store import deliveries
from chalicelib.store import webhooks as store
from chalicelib.store.deliveries import DeliveryAttempt
from chalicelib.store.webhooks import Subscription

SECRET_BYTES = 32  # shown as 64 lowercase hex characters (SPEC section 4)


def get_subscription(caller: Caller, subscription_id: str) -> Subscription:
    subscription_id = schemas.path_uuid(subscription_id)
    found = store.get_subscription(subscription_id) if subscription_id else None
    if found is None or found.key_id != caller.key_id:
        raise NotFound()
    return found


def list_subscriptions(caller: Caller, query: Mapping[str, str | None]) -> listing.Listed:
    """The calling key's subscriptions, newest first."""
    _, page = listing.validated(None, query)
    return listing.listed("webhooks", caller, {}, page, store.listing(caller.key_id))


def create_subscription(caller: Caller, body: object, resolver=None,
                        clock: Clock = utc_now) -> Subscription:
    # Imported here: TLS and HTTP client modules are only for this call and for delivery,
    # not for every request's cold start.
    from chalicelib.events import outbound
    resolver = resolver or outbound.default_resolver

    def url_error(url: object) -> str | None:
        try:
            outbound.check_target_url(url, allow_insecure=settings().allow_insecure_webhooks,
                                      resolver=resolver)
        except ValidationError as exc:
            return exc.errors["target_url"][0]
        return None

    # the URL is checked even when ``event`` failed: all failing fields together (SPEC 1)
    data = schemas.validate(schemas.WEBHOOK_CREATE, body, {"target_url": url_error})
    return store.create(key_id=caller.key_id, user_id=caller.user_id,
                        organisation_id=caller.organisation_id, event=data["event"],
                        target_url=data["target_url"], secret=secrets.token_hex(SECRET_BYTES),
                        created_at=clock())


def delete_subscription(caller: Caller, subscription_id: str) -> None:
    subscription_id = schemas.path_uuid(subscription_id)
    if subscription_id is None or not store.delete_subscription(subscription_id, caller.key_id):
        raise NotFound()


def rotate_secret(caller: Caller, subscription_id: str, read_body: Callable[[], object],
                  clock: Clock = utc_now) -> Subscription:
    """A new secret; the replaced one also signs deliveries until ``overlap_seconds`` pass.

    One conditional UpdateItem. A bad body is answered 400/415 only once the subscription
    is known to be the key's (404 first, as every route with an id).
    """
    checked_id = schemas.path_uuid(subscription_id)
    if checked_id is None:
        raise NotFound()
    try:
        data = schemas.validate(schemas.WEBHOOK_ROTATE, read_body(), {})
    except ApiError:
        get_subscription(caller, checked_id)
        raise
    overlap = data["overlap_seconds"]
    until = clock() + timedelta(seconds=overlap) if overlap > 0 else None
    rotated = store.rotate_secret(checked_id, caller.key_id, secrets.token_hex(SECRET_BYTES),
                                  until)
    if rotated is None:
        raise NotFound()
    return rotated


def ping(caller: Caller, subscription_id: str, clock: Clock = utc_now) -> str:
    """Queue a ``ping`` to the subscription; returns its new delivery id."""
    subscription = get_subscription(caller, subscription_id)
    delivery_id = str(uuid.uuid4())
    manual.send(messages.ping_message(subscription.id, delivery_id, int(clock().timestamp())))
    return delivery_id


def list_deliveries(caller: Caller, subscription_id: str,
                    query: Mapping[str, str | None]) -> listing.Listed:
    """The subscription's delivery attempts of the last 30 days, newest first."""
    _, page = listing.validated(None, query)
    subscription = get_subscription(caller, subscription_id)
    return listing.listed(
        f"webhooks/{subscription.id}/deliveries", caller, {}, page,
        deliveries.listing(subscription.id))


def get_delivery(caller: Caller, subscription_id: str, attempt_id: str) -> DeliveryAttempt:
    """One attempt of a subscription of the calling key (one read of both items).

    The subscription's key is the attempt's: a subscription never changes its key and its
    id is never reused."""
    checked_subscription = schemas.path_uuid(subscription_id)
    checked_attempt = schemas.path_uuid(attempt_id)
    if checked_subscription is None or checked_attempt is None:
        raise NotFound()
    subscription, attempt = deliveries.attempt_with_subscription(checked_subscription,
                                                                 checked_attempt)
    if (subscription is None or subscription.key_id != caller.key_id or attempt is None
            or attempt.subscription_id != subscription.id):
        raise NotFound()
    return attempt


def redeliver(caller: Caller, subscription_id: str, attempt_id: str) -> str:
    """Queue the attempt's envelope to be sent again; returns its (original) delivery id."""
    attempt = get_delivery(caller, subscription_id, attempt_id)
    manual.send(messages.redelivery_message(attempt.subscription_id, attempt.id))
    return attempt.delivery_id
