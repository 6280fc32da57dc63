"""The base of every table model: stage-named tables, the one shared DynamoDB client, store errors.

A model names its table by a short name (``Meta.table``); the stage's prefix is added
when the table is first used, so importing the models reads no settings. The store
answers the services in domain terms: every outcome a caller acts on (a condition that
failed, a race lost, a record that cannot be read) is a result or one of the errors
defined here, never an HTTP error. DynamoDB itself failing (unreachable, throttled past
botocore's retries) is not an outcome: its PynamoDB exception passes through to become
a logged 500, or a retried batch in the event functions.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pynamodb.connection import Connection
from pynamodb.connection.table import TableConnection
from pynamodb.exceptions import PynamoDBException
from pynamodb.models import Model

from chalicelib import aws
from chalicelib.config import settings

CONDITION_FAILED = "ConditionalCheckFailedException"


class StoreError(Exception):
    """Base of the store's own errors."""


class Contention(StoreError):
    """A write kept losing races with concurrent writes of the same item."""


class StageTableMeta(type):
    """Metaclass for a model's ``Meta``: ``table_name`` is the stage's name for ``table``."""

    @property
    def table_name(cls) -> str:
        return settings().table_name(cls.table)


class TableModel(Model):
    """A PynamoDB model whose connection uses the shared botocore client."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        connection = super()._get_connection()
        connection.connection._client = aws.client("dynamodb")
        return connection


def condition_failed(exc: PynamoDBException) -> bool:
    """True when a write was refused by its condition (the outcome a caller asked about)."""
    return getattr(exc, "cause_response_code", None) == CONDITION_FAILED


def time_key(moment: datetime) -> str:
    """A UTC instant as fixed-width text (microseconds), so text order is time order."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


def ordered_key(moment: datetime, item_id: str) -> str:
    """An index sort key: the time, then the item's id. Unique, so an index's order is exactly
    a list's order (ties included) and a position in it is exact."""
    return f"{time_key(moment)}#{item_id}"


def update_actions(model: type[Model], changes: dict) -> list:
    """Changes as update actions: SET a value, REMOVE on ``None`` (stored as absent)."""
    return [getattr(model, name).remove() if value is None else getattr(model, name).set(value)
            for name, value in changes.items()]


def shared_connection() -> Connection:
    """A PynamoDB connection on the shared client, for transactions and batch calls."""
    connection = Connection()
    connection._client = aws.client("dynamodb")
    return connection
