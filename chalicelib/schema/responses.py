"""The response bodies of every route, as JSON Schema: what the serializers in ``api/`` produce.

Kept here, not beside the serializers, so that the document depends on nothing in
``chalicelib.api`` (the API serves the document, never the other way round); the
schema tests validate real responses against these, so the two cannot drift apart.
"""
from __future__ import annotations

from chalicelib.domain.events import EVENTS, PING
from chalicelib.domain.schemas import INVOICE_STATUSES, SESSION_ALREADY_CLOSED, STARTED_VIA
from chalicelib.schema import types as t

ME = t.obj({
    "user_id": {"type": "integer"},
    "email": {"type": "string"},
    "organisation_id": {"type": ["integer", "null"]},
    "organisation_name": {"type": ["string", "null"]},
    "api_key_name": {"type": "string"},
    "api_key_scope": {"type": "string", "enum": ["read", "write"]},
})
PROJECT = t.obj({
    "id": t.UUID,
    "name": {"type": "string"},
    "is_active": {"type": "boolean"},
    "currency": t.CURRENCY,
    "hourly_rate": t.nullable(t.MONEY),
    "client_id": t.nullable(t.UUID),
})
SESSION = t.obj({
    "id": t.UUID,
    "project_id": t.UUID,
    "project_name": {"type": "string"},
    "start_time": t.TIMESTAMP,
    "end_time": t.nullable(t.TIMESTAMP),
    "description": {"type": "string"},
    "started_via": {"type": "string", "enum": list(STARTED_VIA)},
    "is_active": {"type": "boolean", "description": "`end_time` is null."},
    "total_seconds": {"type": "integer", "minimum": 0},
})
SESSION_ALREADY_CLOSED_SCHEMA = t.obj({
    "detail": {"type": "string", "const": SESSION_ALREADY_CLOSED},
    "session": {"$ref": "#/components/schemas/Session"},
}, description="`close` on a session that was already closed: the session, wrapped.")
CLIENT = t.obj({
    "id": t.UUID,
    "name": {"type": "string"},
    "company": {"type": "string"},
    "email": {"type": "string"},
    "hourly_rate": t.nullable(t.MONEY),
    "currency": t.CURRENCY,
})
INVOICE = t.obj({
    "id": t.UUID,
    "invoice_number": {"type": "string", "examples": ["DMI-202606-0001"]},
    "client_id": t.UUID,
    "status": {"type": "string", "enum": list(INVOICE_STATUSES)},
    "subtotal": t.MONEY,
    "tax_rate": t.MONEY,
    "tax_amount": t.MONEY,
    "total": t.MONEY,
    "currency": t.CURRENCY,
    "period_start": t.DATE,
    "period_end": t.DATE,
    "due_date": t.DATE,
    "paid_date": t.nullable(t.DATE),
    "created": t.TIMESTAMP,
})
LINE_ITEM = t.obj({
    "project_id": t.UUID,
    "project_name": {"type": "string"},
    "seconds": {"type": "integer", "minimum": 0},
    "hours": t.MONEY,
    "rate": t.MONEY,
    "amount": t.MONEY,
})
WEBHOOK_SUBSCRIPTION = t.obj({
    "id": t.UUID,
    "event": {"type": "string", "enum": list(EVENTS)},
    "target_url": {"type": "string"},
    "secret": {"type": "string", "pattern": "^[0-9a-f]{64}$",
               "description": "Signs every delivery (HMAC-SHA256); store it."},
    "created_at": t.TIMESTAMP,
    "last_delivery_at": t.nullable(t.TIMESTAMP),
    "last_status_code": {"type": ["integer", "null"]},
    "failure_count": {"type": "integer", "minimum": 0},
})

_HEADERS = {"type": "object", "additionalProperties": {"type": "string"}}
DELIVERY_ATTEMPT_FIELDS = {
    "id": {**t.UUID, "description": "This attempt's id."},
    "delivery_id": {**t.UUID, "description": "The delivery's id (`X-Temporalist-Delivery`, "
                    "`webhook-id`): the same for every attempt of one delivery."},
    "event": {"type": "string", "enum": [*EVENTS, PING]},
    "attempted_at": t.TIMESTAMP,
    "status_code": {"type": ["integer", "null"],
                    "description": "The receiver's status; null when no response arrived."},
    "duration_ms": {"type": "integer", "minimum": 0},
    "succeeded": {"type": "boolean", "description": "A 2xx answer."},
    "error": {"type": ["string", "null"],
              "description": ("Null whenever a response arrived (whatever its status; a 3xx "
                              "is not followed); else why there was none: `timeout`, "
                              "`connection refused`, `connection reset`, `connection closed "
                              "without response`, `blocked address`, `name not resolved`, "
                              "`TLS error`, `invalid URL`, `invalid response`, "
                              "`connection failed`."),
              "examples": ["timeout"]},
    "redelivery": {"type": "boolean", "description": "Made by `redeliver`."},
}
DELIVERY_ATTEMPT = t.obj(DELIVERY_ATTEMPT_FIELDS,
                         description="One POST of the delivery log (kept 30 days).")
DELIVERY_ATTEMPT_DETAIL = t.obj({
    **DELIVERY_ATTEMPT_FIELDS,
    "request": t.obj({"headers": _HEADERS,
                      "body": {"type": "string", "description": "The raw JSON text sent."}}),
    "response": {"anyOf": [t.obj({
        "headers": {**_HEADERS, "description": "As received (repeated names joined with "
                    "`, `), up to 16 KB."},
        "body": {"type": "string", "maxLength": 2048,
                 "description": "The first 2,048 characters of the answer."},
    }), {"type": "null"}], "description": "Null when no response arrived."},
}, description="One attempt with the request sent and the response received.")
QUEUED_DELIVERY = t.obj({
    "delivery_id": t.UUID,
    "status": {"type": "string", "const": "queued"},
}, description="Accepted: the delivery is on the webhook queue and will be logged when sent.")

# Components of the document, by name.
SCHEMAS: dict[str, dict] = {
    "Me": ME,
    "Project": PROJECT,
    "Session": SESSION,
    "SessionAlreadyClosed": SESSION_ALREADY_CLOSED_SCHEMA,
    "Client": CLIENT,
    "Invoice": INVOICE,
    "LineItem": LINE_ITEM,
    "WebhookSubscription": WEBHOOK_SUBSCRIPTION,
    "DeliveryAttempt": DELIVERY_ATTEMPT,
    "DeliveryAttemptDetail": DELIVERY_ATTEMPT_DETAIL,
    "QueuedDelivery": QUEUED_DELIVERY,
}
