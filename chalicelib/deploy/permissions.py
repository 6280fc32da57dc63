"""What each function may call: the one table the functions' roles are built from.

One entry per Lambda function (keyed by Chalice's name for it), listing the tables it
reads or writes with the item actions it calls, the indexes it queries, the queues it
sends to and the queues or streams its trigger reads. The template gives each function
its own role with exactly that, on only this stack's resources; ``make package`` refuses
a function without an entry. ``tests/infra/test_policy.py`` records every AWS call the
authorizer, the API handler, the change-stream fan-out and the delivery function make
while every route runs, its changes are fanned out and its webhooks delivered, and fails
when a role allows an (action, resource) its function never calls, or lacks one it does.

IAM names some calls differently from their API operation: TransactWriteItems is
authorised per item (PutItem, UpdateItem, ...), TransactGetItems as GetItem,
SendMessageBatch as SendMessage, DeleteMessageBatch as DeleteMessage. Operator commands
(``bootstrap``'s CreateTable, the CLI's account writes) run with the operator's own
credentials and appear nowhere here.
"""
from __future__ import annotations

from dataclasses import dataclass

GET = "dynamodb:GetItem"
BATCH_GET = "dynamodb:BatchGetItem"
PUT = "dynamodb:PutItem"
UPDATE = "dynamodb:UpdateItem"
DELETE = "dynamodb:DeleteItem"
BATCH_WRITE = "dynamodb:BatchWriteItem"
QUERY = "dynamodb:Query"  # on an index (or a base table's partition below); nothing scans
SEND = "sqs:SendMessage"

# Not called by our code: Lambda's SQS event source mapping polls the queue with the
# function's role, and AWS requires exactly these three (it checks them when the mapping
# is created).
SQS_EVENT_SOURCE_ACTIONS: tuple[str, ...] = (
    "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")
# Likewise for a DynamoDB stream event source mapping (Lambda's execution-role docs), on
# the streams it reads.
STREAM_EVENT_SOURCE_ACTIONS: tuple[str, ...] = (
    "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
# The fourth action those docs list has no resource type (Service Authorization Reference:
# ListStreams names no resource), so a grant on stream ARNs would allow nothing: it is on
# "*", as in AWS's AWSLambdaDynamoDBExecutionRole. It lists stream ARNs, never records.
STREAM_LIST_ACTIONS: tuple[str, ...] = ("dynamodb:ListStreams",)
# Written by the Lambda runtime into the function's own log group (created by the
# template, so CreateLogGroup is not needed).
LOG_ACTIONS: tuple[str, ...] = ("logs:CreateLogStream", "logs:PutLogEvents")
# Active tracing: the runtime sends segments. X-Ray has no resource-level permissions,
# so these two are the only actions allowed on "*" (AWSXRayDaemonWriteAccess's pair).
TRACING_ACTIONS: tuple[str, ...] = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")


@dataclass(frozen=True)
class TableAccess:
    """The calls a function makes on one table (named as its model's ``Meta.table``)."""

    table: str
    items: tuple[str, ...] = ()  # actions on the table's items
    indexes: tuple[str, ...] = ()  # index names it queries


@dataclass(frozen=True)
class FunctionAccess:
    tables: tuple[TableAccess, ...] = ()
    sends_to: tuple[str, ...] = ()  # queues (chalicelib.deploy.template.QUEUES keys)
    consumes: tuple[str, ...] = ()  # queues its SQS trigger polls
    streams: tuple[str, ...] = ()  # tables whose stream its trigger reads
    on_failure: tuple[str, ...] = ()  # queues its stream trigger sends failed batches to


FUNCTIONS: dict[str, FunctionAccess] = {
    # One GetItem of the key per request; nothing else.
    "api_key_authorizer": FunctionAccess(tables=(TableAccess("api_keys", (GET,)),)),
    # The routes. Users, teams, memberships and keys are the operator's: the key item
    # carries its user's snapshot, so no request reads them.
    "api_handler": FunctionAccess(
        tables=(
            TableAccess("organisations", (GET,)),  # the invoice prefix
            TableAccess("counters", (GET, PUT)),  # invoice numbers (PUT inside a transaction)
            TableAccess("projects", (GET, BATCH_GET, PUT, UPDATE),
                        ("by_client", "by_owner", "by_team")),
            TableAccess("clients", (GET, PUT, UPDATE), ("by_organisation",)),
            TableAccess("sessions", (GET, PUT, UPDATE, DELETE),
                        ("by_project", "closed", "closed_by_project", "running",
                         "running_by_project")),
            TableAccess("invoices", (GET, PUT, UPDATE),
                        ("by_organisation", "by_organisation_status", "draft_by_client",
                         "paid_by_client", "sent_by_client")),
            TableAccess("invoice_lines", (BATCH_WRITE, QUERY)),  # one invoice's lines: its partition
            # rotation updates; an attempt's routes read it with its subscription in one batch
            TableAccess("webhooks", (GET, BATCH_GET, PUT, UPDATE, DELETE), ("by_key",)),
            TableAccess("deliveries", (BATCH_GET,), ("by_subscription",)),
            # DELETE: a 5xx frees the key; BATCH_*: an answer too large for one item, in parts
            TableAccess("idempotency", (GET, BATCH_GET, PUT, UPDATE, DELETE, BATCH_WRITE)),
        ),
        sends_to=("webhooks",),  # a ping and a redelivery are queued by the request
    ),
    # Each committed change of a streamed table: its event, to each subscriber's queue message.
    "fan_out_events": FunctionAccess(
        tables=(
            TableAccess("webhooks", indexes=("by_event_organisation", "by_event_user")),
            TableAccess("projects", (BATCH_GET,)),  # a session event names its project
        ),
        sends_to=("webhooks",),
        streams=("invoices", "projects", "sessions"),
        on_failure=("events-dlq",),
    ),
    # Reads what a delivery needs (the subscription, its key, a redelivered attempt's
    # bytes), writes only the outcome and the attempt's log entry.
    "deliver_webhooks": FunctionAccess(
        tables=(TableAccess("webhooks", (BATCH_GET, UPDATE)),
                TableAccess("api_keys", (BATCH_GET,)),
                TableAccess("deliveries", (GET, PUT))),
        consumes=("webhooks",),
    ),
}
