"""``/webhooks/``: the calling key's webhook subscriptions."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint, json_response, list_response
from chalicelib.domain.timestamps import format_utc
from chalicelib.lazy import LazyModule

service = LazyModule("chalicelib.services.webhooks")  # loaded by the first request that needs it

webhooks = Blueprint(__name__)


def subscription_json(subscription) -> dict:
    return {
        "id": subscription.id,
        "event": subscription.event,
        "target_url": subscription.target_url,
        "secret": subscription.secret,
        "created_at": format_utc(subscription.created_at),
        "last_delivery_at": format_utc(subscription.last_delivery_at),
        "last_status_code": None if subscription.last_status_code is None
        else int(subscription.last_status_code),
        "failure_count": int(subscription.failure_count or 0),
    }


@endpoint(webhooks, "/webhooks")
def list_subscriptions(request: ApiRequest):
    return list_response(request, service.list_subscriptions(request.caller, request.queries()),
                         subscription_json)


@endpoint(webhooks, "/webhooks", ("POST",), status_code=201)
def create_subscription(request: ApiRequest) -> dict:
    return subscription_json(service.create_subscription(request.caller, request.json()))


@endpoint(webhooks, "/webhooks/{subscription_id}")
def get_subscription(request: ApiRequest, subscription_id: str) -> dict:
    return subscription_json(service.get_subscription(request.caller, subscription_id))


@endpoint(webhooks, "/webhooks/{subscription_id}", ("DELETE",), status_code=204)
def delete_subscription(request: ApiRequest, subscription_id: str):
    service.delete_subscription(request.caller, subscription_id)
    return json_response(None, 204)
