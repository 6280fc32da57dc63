"""Webhook subscriptions: created by, visible to and deleted by one API key."""
from __future__ import annotations

import secrets
from typing import Mapping

from chalicelib.auth.caller import Caller
from chalicelib.config import settings
from chalicelib.domain import schemas
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.errors import NotFound, ValidationError
from chalicelib.services import listing
from chalicelib.store import webhooks as store
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
    return listing.listed(
        "webhooks", caller, {}, page, complete=lambda: store.subscriptions_of_key(caller.key_id),
        read_page=lambda size, positions: store.subscriptions_page(caller.key_id, size,
                                                                   positions))


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
