"""The IAM actions the functions need: the one list the deployment role is built from.

The DynamoDB and SQS actions are those the request and delivery paths call (operator
commands such as ``bootstrap``'s CreateTable/CreateQueue are not among them: operators
run those with their own credentials). ``tests/infra/test_policy.py`` records every call
the API and delivery tests make and fails when this list allows an action no call needs,
or when a call needs one it lacks. IAM names some calls differently from their API
operation: TransactWriteItems is authorised per item (PutItem, UpdateItem, ...),
SendMessageBatch as SendMessage, DeleteMessageBatch as DeleteMessage.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Called by the code on the tables' items (TransactWriteItems counts as its PutItems).
# No request path queries a base table: every list reads an index.
DYNAMODB_TABLE_ACTIONS: tuple[str, ...] = (
    "dynamodb:BatchGetItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
# Called on the secondary indexes: the lists the API serves. Never Scan.
DYNAMODB_INDEX_ACTIONS: tuple[str, ...] = ("dynamodb:Query",)
# Called by fan-out (SendMessageBatch is authorised as SendMessage).
SQS_PRODUCER_ACTIONS: tuple[str, ...] = ("sqs:SendMessage",)
# Not called by our code: Lambda's SQS event source mapping polls the queue with the
# function's role, and AWS requires exactly these three for it (it checks them when the
# mapping is created).
SQS_EVENT_SOURCE_ACTIONS: tuple[str, ...] = (
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
# Not called by our code either: the Lambda runtime writes the functions' logs. The log
# groups are created by the template, so CreateLogGroup is not needed.
LOG_ACTIONS: tuple[str, ...] = ("logs:CreateLogStream", "logs:PutLogEvents")

CODE_ACTIONS: frozenset[str] = frozenset(
    DYNAMODB_TABLE_ACTIONS + DYNAMODB_INDEX_ACTIONS + SQS_PRODUCER_ACTIONS)


def policy_document(table_arns: Iterable[Any], index_arns: Iterable[Any], queue_arn: Any,
                    log_group_arns: Iterable[Any]) -> dict:
    """The role's policy: each list of actions on only the resources it is for."""
    statements = [
        {"Sid": "TableItems", "Effect": "Allow",
         "Action": list(DYNAMODB_TABLE_ACTIONS), "Resource": list(table_arns)},
        {"Sid": "IndexQueries", "Effect": "Allow",
         "Action": list(DYNAMODB_INDEX_ACTIONS), "Resource": list(index_arns)},
        {"Sid": "WebhookFanOut", "Effect": "Allow",
         "Action": list(SQS_PRODUCER_ACTIONS), "Resource": [queue_arn]},
        {"Sid": "WebhookEventSource", "Effect": "Allow",
         "Action": list(SQS_EVENT_SOURCE_ACTIONS), "Resource": [queue_arn]},
        {"Sid": "FunctionLogs", "Effect": "Allow",
         "Action": list(LOG_ACTIONS), "Resource": list(log_group_arns)},
    ]
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Resource"]]}
