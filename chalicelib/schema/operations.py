"""What each route means to an integrator: the words, bodies, filters and errors of every operation.

Keyed by the route's view name (its ``operationId``). The route table itself (methods,
paths, path parameters, success status, whether a key is needed) comes from
``app.routes``; a test fails when a route has no entry here or an entry has no route.
Request bodies are the validators' own schemas and responses the schemas of
:mod:`.responses`, so this table only names them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.domain import accounts, fields as f
from chalicelib.domain import schemas
from chalicelib.domain.events import TARGET_URL_LENGTH
from chalicelib.schema import bodies, responses

# Components: response bodies (:mod:`.responses`), request bodies from the validators.
RESPONSE_SCHEMAS: dict[str, dict] = responses.SCHEMAS
REQUEST_SCHEMAS: dict[str, tuple[f.Schema, bool]] = {  # name → (validator schema, partial)
    "ProjectCreate": (schemas.PROJECT_CREATE, False),
    "ProjectUpdate": (schemas.PROJECT_UPDATE, True),
    "SessionCreate": (schemas.SESSION_CREATE, False),
    "SessionUpdate": (schemas.SESSION_UPDATE, True),
    "ClientCreate": (schemas.CLIENT_CREATE, False),
    "ClientUpdate": (schemas.CLIENT_UPDATE, True),
    "InvoiceCreate": (schemas.INVOICE_CREATE, False),
    "WebhookCreate": (schemas.WEBHOOK_CREATE, False),
    "WebhookRotateSecret": (schemas.WEBHOOK_ROTATE, True),  # optional: every field has a default
}
_OF_ORGANISATION = f"A client of your organisation, else 400 `{schemas.CLIENT_NOT_FOUND}`"
_VISIBLE_PROJECT = f"A project you can see, else 400 `{schemas.PROJECT_NOT_FOUND}`"
# What a validator checks beyond its field types (a lookup or a rule of the service).
REQUEST_PROPERTY_NOTES: dict[tuple[str, str], dict] = {
    ("ProjectCreate", "client_id"): {"description": _OF_ORGANISATION},
    ("ProjectUpdate", "client_id"): {"description": _OF_ORGANISATION},
    ("SessionCreate", "project_id"): {"description": _VISIBLE_PROJECT},
    ("SessionCreate", "end_time"): {"description": "Omit (or null) to start a running session; "
                                    "must not be before `start_time`."},
    ("SessionCreate", "start_time"): {"description": "Defaults to now."},
    ("SessionUpdate", "project_id"): {"description": _VISIBLE_PROJECT},
    ("SessionUpdate", "end_time"): {"description": "Must not be before the session's start; setting it "
                                    "on a running session closes it (`session.closed`)."},
    ("InvoiceCreate", "client_id"): {"description": _OF_ORGANISATION},
    ("InvoiceCreate", "period_end"): {"description": "Must not be before `period_start`."},
    ("InvoiceCreate", "project_ids"): {"description": "Projects linked to the client; defaults to all of them."},
    ("InvoiceCreate", "tax_rate"): {"description": "A percentage, 0-100, at most 2 decimals."},
    # The URL rules are the outbound check's, not the field's: replace the generic string.
    ("WebhookCreate", "target_url"): {
        "replace": {"type": "string", "format": "uri", "pattern": "^https://", "maxLength": TARGET_URL_LENGTH,
                    "description": ("An absolute HTTPS URL whose host resolves only to public "
                                    "addresses. The `local` stage also accepts `http://` and loopback.")},
    },
}

READ_SCOPE = "read"
WRITE_SCOPE = "write"


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict
    description: str


@dataclass(frozen=True)
class Operation:
    """One route as documented. ``response`` names a component; ``many`` makes it a list."""

    tag: str
    summary: str
    description: str
    response: str | None = None
    many: bool = False
    response_schema: dict | None = None  # instead of ``response`` when the body has two shapes
    media_types: tuple[str, ...] = ()  # a success body that is not JSON-only (the document)
    body: str | None = None
    body_example: dict | None = None
    query: tuple[Query, ...] = ()
    forbidden: str = ""  # an extra reason for 403 beyond plan and scope
    bad_request: str = ""  # a 400 `detail` the operation can answer (besides field errors)
    links: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (operationId, path param)
    busy: bool = False  # may answer 503 ServiceBusy (a write that kept losing races)


_UUID_FILTER = {"type": "string", "format": "uuid"}
_DATETIME_FILTER = {"type": "string", "pattern": bodies.DATETIME_PATTERN,
                    "description": "ISO 8601 as in bodies; offsets are converted to UTC.",
                    "examples": ["2026-06-01T00:00:00Z"]}


def _links(*operation_ids: str, param: str) -> dict[str, tuple[str, str]]:
    return {"".join(p.title() for p in op.split("_")): (op, param) for op in operation_ids}


OPERATIONS: dict[str, Operation] = {
    "get_me": Operation(
        "Identity", "Who this key belongs to",
        "The account and organisation your key is attached to, plus the key's name and scope. "
        "Use it as a connection test.", response="Me"),
    "list_projects": Operation(
        "Projects", "List projects",
        "The projects you own or that belong to one of your teams, newest first.",
        response="Project", many=True),
    "create_project": Operation(
        "Projects", "Create a project",
        "Assigned to the calling user and their organisation. Fires `project.created`.",
        response="Project", body="ProjectCreate",
        body_example={"name": "Website redesign", "currency": "USD", "hourly_rate": "120.00"},
        links=_links("get_project", "update_project", param="project_id")),
    "get_project": Operation(
        "Projects", "Retrieve a project", "A single project by its UUID.", response="Project"),
    "update_project": Operation(
        "Projects", "Update a project", "Send only the fields you want to change.",
        response="Project", body="ProjectUpdate", body_example={"is_active": False}),
    "list_sessions": Operation(
        "Sessions", "List sessions", "Your tracked sessions, newest start first.",
        response="Session", many=True,
        query=(Query("active", {"type": "string", "enum": ["true", "false"]},
                     "`true`: running sessions only; `false`: finished ones only."),
               Query("project_id", _UUID_FILTER, "Only sessions of this project."),
               Query("started_after", _DATETIME_FILTER,
                     "Only sessions that started at or after this time (extension)."),
               Query("started_before", _DATETIME_FILTER,
                     "Only sessions that started before this time (extension)."))),
    "create_session": Operation(
        "Sessions", "Start or log a session",
        "Omit `end_time` to start a session that is running now; include both `start_time` "
        "and `end_time` to log a completed one. Sessions may be started on inactive "
        "projects. Fires `session.created`.",
        response="Session", body="SessionCreate",
        body_example={"project_id": "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"},
        links=_links("get_session", "update_session", "delete_session", "close_session",
                     param="session_id")),
    "get_session": Operation(
        "Sessions", "Retrieve a session", "A single session of yours by its UUID.",
        response="Session"),
    "update_session": Operation(
        "Sessions", "Update a session",
        "Changes only `end_time`, `description` and `project_id`.",
        response="Session", body="SessionUpdate", body_example={"description": "Kick-off call"}),
    "delete_session": Operation(
        "Sessions", "Delete a session", "Permanently deletes the session. No body."),
    "close_session": Operation(
        "Sessions", "Close a running session",
        "Sets `end_time` to now and fires `session.closed` (exactly once, even under "
        "concurrent closes). Idempotent: on an already closed session the answer is 200 "
        f'with `{{"detail": "{schemas.SESSION_ALREADY_CLOSED}", "session": {{...}}}}`.',
        response_schema={"oneOf": [{"$ref": "#/components/schemas/Session"},
                                   {"$ref": "#/components/schemas/SessionAlreadyClosed"}]}),
    "list_clients": Operation(
        "Clients", "List clients",
        "The clients of your organisation, by name (case-insensitive); `[]` without one.",
        response="Client", many=True),
    "create_client": Operation(
        "Clients", "Create a client", "A client of your organisation.",
        response="Client", body="ClientCreate",
        body_example={"name": "Globex Corp", "email": "billing@globex.example"},
        forbidden=accounts.NO_ORGANISATION_FOR_CLIENTS,
        links=_links("get_client", "update_client", param="client_id")),
    "get_client": Operation(
        "Clients", "Retrieve a client", "A client of your organisation by its UUID.",
        response="Client"),
    "update_client": Operation(
        "Clients", "Update a client", "Send only the fields you want to change.",
        response="Client", body="ClientUpdate", body_example={"company": "Globex"}),
    "list_invoices": Operation(
        "Invoices", "List invoices", "The invoices of your organisation, newest first.",
        response="Invoice", many=True,
        query=(Query("status", {"type": "string", "enum": list(schemas.INVOICE_STATUSES)},
                     "Only invoices in this status."),
               Query("client_id", _UUID_FILTER, "Only invoices of this client."))),
    "create_invoice": Operation(
        "Invoices", "Create an invoice from tracked time",
        "One line item per project with closed sessions overlapping "
        "`[period_start 00:00Z, period_end + 1 day)`, each clipped to that window; `add` sums "
        "overlapping sessions, `merge` counts overlapping time once. Rate: the project's, else "
        "the client's, else 0. New invoices are drafts due `period_end` + 15 days. Fires "
        "`invoice.created`.",
        response="Invoice", body="InvoiceCreate",
        body_example={"client_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
                      "period_start": "2026-06-01", "period_end": "2026-06-30",
                      "tax_rate": "21.00"},
        forbidden=accounts.NO_ORGANISATION_FOR_INVOICES, busy=True,
        links=_links("get_invoice", "get_line_items", "send_invoice", "mark_paid",
                     param="invoice_id")),
    "get_invoice": Operation(
        "Invoices", "Retrieve an invoice", "An invoice of your organisation by its UUID.",
        response="Invoice"),
    "get_line_items": Operation(
        "Invoices", "An invoice's line items",
        "Extension: the lines the invoice was computed from, one per billed project.",
        response="LineItem", many=True),
    "send_invoice": Operation(
        "Invoices", "Mark an invoice as sent",
        "From `draft` or `sent` to `sent`; email delivery is handled by the app.",
        response="Invoice", bad_request=schemas.INVOICE_NOT_SENDABLE),
    "mark_paid": Operation(
        "Invoices", "Mark an invoice as paid",
        "From `draft` or `sent` to `paid` with today's (UTC) date, firing `invoice.paid`. "
        "Already paid: 200, unchanged, no event.", response="Invoice"),
    "list_subscriptions": Operation(
        "Webhooks", "List webhook subscriptions",
        "The subscriptions created with the calling key.",
        response="WebhookSubscription", many=True),
    "create_subscription": Operation(
        "Webhooks", "Subscribe a URL to an event",
        "The response includes the subscription's signing secret. The subscription belongs "
        "to the calling key and stops when the key is revoked.",
        response="WebhookSubscription", body="WebhookCreate",
        body_example={"event": "session.closed",
                      "target_url": "https://hooks.example.com/temporalist"},
        links=_links("get_subscription", "delete_subscription", "rotate_secret", "ping",
                     "list_deliveries", param="subscription_id")),
    "get_subscription": Operation(
        "Webhooks", "Retrieve a webhook subscription", "A subscription of the calling key.",
        response="WebhookSubscription"),
    "delete_subscription": Operation(
        "Webhooks", "Delete a webhook subscription",
        "No further deliveries, including queued ones. No body."),
    "rotate_secret": Operation(
        "Webhooks", "Rotate a subscription's signing secret",
        "Extension: answers the subscription with its new `secret`. Until `overlap_seconds` "
        f"(0-{schemas.MAX_OVERLAP_SECONDS}, default {schemas.DEFAULT_OVERLAP_SECONDS}) have "
        "passed, each delivery is signed with both secrets: "
        "`X-Temporalist-Signature: t=<t>,v1=<new>,v1=<old>` (Stripe's libraries accept "
        "either; the reference's `verify` reads the last `v1`, the old secret's) and two "
        "space-separated entries in `webhook-signature`. Then only the new one signs, and "
        "the old one is forgotten. A rotation during an overlap replaces the older secret. "
        "The body is optional.",
        response="WebhookSubscription", body="WebhookRotateSecret",
        body_example={"overlap_seconds": 3600}),
    "ping": Operation(
        "Webhooks", "Send a test delivery",
        "Extension: queues event `ping` with `data` `{\"webhook_id\": <this id>}` to the "
        "subscription's URL, signed like every delivery, under a new `delivery_id`; the "
        "attempt appears in the delivery log. Accepted (202), not yet sent.",
        response="QueuedDelivery"),
    "list_deliveries": Operation(
        "Webhooks", "A subscription's delivery log",
        "Extension: every POST made to the subscription in the last 30 days, newest first: "
        "the receiver's status (null without a response), the duration, whether it "
        "succeeded (2xx) and, without a response, why. Only the subscription's key sees it.",
        response="DeliveryAttempt", many=True),
    "get_delivery": Operation(
        "Webhooks", "One delivery attempt",
        "Extension: the attempt with the request sent (headers and the raw JSON body) and the "
        "response received (headers and the first 2,048 characters; null without a response).",
        response="DeliveryAttemptDetail"),
    "redeliver": Operation(
        "Webhooks", "Send a logged delivery again",
        "Extension: queues the attempt's exact envelope bytes under its original "
        "`delivery_id`, signed anew with the current time, through the same sender (same "
        "address checks, same 8-second limit); it appears as a new attempt with "
        "`redelivery: true` and updates `last_delivery_at`, `last_status_code` and "
        "`failure_count` like any delivery. Accepted (202), not yet sent.",
        response="QueuedDelivery"),
    "get_openapi": Operation(
        "Schema", "This OpenAPI document",
        "The OpenAPI 3.1 document of the API, no key needed. YAML (`application/yaml`) by "
        "default; JSON with `?format=json` or `Accept: application/json`; `?format=yaml` "
        "forces YAML.",
        media_types=("application/yaml", "application/json"),
        query=(Query("format", {"type": "string", "enum": ["json", "yaml"]},
                     "`json` or `yaml`; wins over the `Accept` header."),)),
}
