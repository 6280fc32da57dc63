"""``/webhooks/``: the calling key's webhook subscriptions, their delivery log, pings,
redeliveries and secret rotation."""
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


def attempt_json(attempt) -> dict:
    """An attempt as the delivery log lists it."""
    return {
        "id": attempt.id,
        "delivery_id": attempt.delivery_id,
        "event": attempt.event,
        "attempted_at": format_utc(attempt.attempted_at),
        "status_code": None if attempt.status_code is None else int(attempt.status_code),
        "duration_ms": int(attempt.duration_ms),
        "succeeded": bool(attempt.succeeded),
        "error": attempt.error,
        "redelivery": bool(attempt.redelivery),
    }


def attempt_detail_json(attempt) -> dict:
    """An attempt with what was sent and what came back (null when no response arrived)."""
    answered = attempt.status_code is not None
    return {
        **attempt_json(attempt),
        "request": {"headers": attempt.request_headers, "body": attempt.request_body},
        "response": {"headers": attempt.response_headers or {},
                     "body": attempt.response_body or ""} if answered else None,
    }


def queued_json(delivery_id: str) -> dict:
    return {"delivery_id": delivery_id, "status": "queued"}


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


@endpoint(webhooks, "/webhooks/{subscription_id}/rotate_secret", ("POST",))
def rotate_secret(request: ApiRequest, subscription_id: str) -> dict:
    return subscription_json(service.rotate_secret(request.caller, subscription_id,
                                                   request.json))


@endpoint(webhooks, "/webhooks/{subscription_id}/ping", ("POST",), status_code=202)
def ping(request: ApiRequest, subscription_id: str) -> dict:
    return queued_json(service.ping(request.caller, subscription_id))


@endpoint(webhooks, "/webhooks/{subscription_id}/deliveries")
def list_deliveries(request: ApiRequest, subscription_id: str):
    return list_response(request, service.list_deliveries(request.caller, subscription_id,
                                                           request.queries()), attempt_json)


@endpoint(webhooks, "/webhooks/{subscription_id}/deliveries/{attempt_id}")
def get_delivery(request: ApiRequest, subscription_id: str, attempt_id: str) -> dict:
    return attempt_detail_json(service.get_delivery(request.caller, subscription_id,
                                                    attempt_id))


@endpoint(webhooks, "/webhooks/{subscription_id}/deliveries/{attempt_id}/redeliver", ("POST",),
          status_code=202)
def redeliver(request: ApiRequest, subscription_id: str, attempt_id: str) -> dict:
    return queued_json(service.redeliver(request.caller, subscription_id, attempt_id))
