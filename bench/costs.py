"""Estimated AWS cost per million API requests of a stated mix, from the measured calls.

Prices are us-east-1 list prices as published on the AWS pricing pages in November
2024 (DynamoDB on-demand after its 2024-11-01 reduction); check them before relying
on the figures. Request-unit assumptions per call are stated next to the table.
"""
from __future__ import annotations

from collections import Counter

PRICES_DATE = "November 2024, us-east-1 list prices"
API_GATEWAY_PER_MILLION = 3.50  # REST API, first 333 million requests/month
LAMBDA_REQUESTS_PER_MILLION = 0.20
LAMBDA_GB_SECOND = 0.0000166667  # x86
DYNAMODB_READ_UNITS_PER_MILLION = 0.125  # on-demand
DYNAMODB_WRITE_UNITS_PER_MILLION = 0.625  # on-demand
SQS_PER_MILLION = 0.40  # standard queue

LAMBDA_MEMORY_GB = 0.5
API_LAMBDA_MS = 40  # assumed warm duration of a handler (billed per ms)
AUTHORIZER_MS = 15
DELIVERY_LAMBDA_MS = 200

# Request units per call for this service's small items (< 1 KB written, < 4 KB read).
READ_UNITS = {"GetItem": 1.0, "Query": 0.5, "BatchGetItem": 0.5}  # GetItem strongly consistent
WRITE_UNITS = {"PutItem": 2.0, "UpdateItem": 2.0, "DeleteItem": 2.0,  # item + ~1 index update
               "TransactWriteItems": 4.0}  # two items, transactions cost double

# The mix: what an integration (timer, dashboard, Zapier-style sync) sends, per 100 requests.
MIX = {
    "GET /me/": 5, "GET /projects/": 10, "GET /projects/{id}/": 3, "POST /projects/": 1,
    "GET /sessions/": 20, "GET /sessions/?active=true": 15, "POST /sessions/": 12,
    "GET /sessions/{id}/": 5, "PATCH /sessions/{id}/": 4, "POST /sessions/{id}/close/": 12,
    "GET /clients/": 3, "GET /invoices/": 3, "POST /invoices/": 1, "GET /invoices/{id}/": 2,
    "POST /invoices/{id}/mark_paid/": 1, "GET /webhooks/": 3,
}


def estimate(measured: dict[str, dict], webhook_share: float = 0.1) -> dict:
    """Dollars per million requests of :data:`MIX`, by service."""
    weight = sum(MIX.values())
    reads = writes = sqs = 0.0
    for name, share in MIX.items():
        calls: Counter = measured[name]["dynamodb"] + measured[name]["authorizer"]
        for operation, n in calls.items():
            op = operation.split(".", 1)[1]
            reads += share / weight * n * READ_UNITS.get(op, 0)
            writes += share / weight * n * WRITE_UNITS.get(op, 0)
        sqs += share / weight * sum(measured[name]["sqs"].values())
    # each delivered event: the delivery function's receive/delete plus its reads and writes
    deliveries = webhook_share
    reads += deliveries * READ_UNITS["GetItem"]
    writes += deliveries * WRITE_UNITS["UpdateItem"]
    sqs += deliveries * 2
    lambda_seconds = (API_LAMBDA_MS + AUTHORIZER_MS) / 1000 + deliveries * DELIVERY_LAMBDA_MS / 1000
    cost = {
        "API Gateway": API_GATEWAY_PER_MILLION,
        "Lambda requests (API + authorizer + deliveries)":
            LAMBDA_REQUESTS_PER_MILLION * (2 + deliveries),
        "Lambda duration": 1e6 * lambda_seconds * LAMBDA_MEMORY_GB * LAMBDA_GB_SECOND,
        "DynamoDB reads": reads * DYNAMODB_READ_UNITS_PER_MILLION,
        "DynamoDB writes": writes * DYNAMODB_WRITE_UNITS_PER_MILLION,
        "SQS": sqs * SQS_PER_MILLION,
    }
    return {"per_million": cost, "total": sum(cost.values()), "read_units": reads,
            "write_units": writes, "sqs_requests": sqs, "deliveries": deliveries}
