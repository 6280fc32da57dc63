"""``/webhooks/``: the calling key's webhook subscriptions."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint, json_response
from chalicelib.domain.schemas import WEBHOOK_EVENTS
from chalicelib.domain.timestamps import format_utc
from chalicelib.lazy import LazyModule
from chalicelib.schema import types as t

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


# The response schema of ``subscription_json`` (OpenAPI document).
SUBSCRIPTION_SCHEMA = t.obj({
    "id": t.UUID,
    "event": {"type": "string", "enum": list(WEBHOOK_EVENTS)},
    "target_url": {"type": "string"},
    "secret": {"type": "string", "pattern": "^[0-9a-f]{64}$",
               "description": "Signs every delivery (HMAC-SHA256); store it."},
    "created_at": t.TIMESTAMP,
    "last_delivery_at": t.nullable(t.TIMESTAMP),
    "last_status_code": {"type": ["integer", "null"]},
    "failure_count": {"type": "integer", "minimum": 0},
})


@endpoint(webhooks, "/webhooks")
def list_subscriptions(request: ApiRequest) -> list:
    return [subscription_json(s) for s in service.list_subscriptions(request.caller)]


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
