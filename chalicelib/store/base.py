"""The base of every table model: stage-named tables and the one shared DynamoDB client.

A model names its table by a short name (``Meta.table``); the stage's prefix is added
when the table is first used, so importing the models reads no settings.
"""
from __future__ import annotations

from pynamodb.connection import Connection
from pynamodb.connection.table import TableConnection
from pynamodb.models import Model

from chalicelib import aws
from chalicelib.config import settings


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


def update_actions(model: type[Model], changes: dict) -> list:
    """A PATCH's changes as update actions: SET a value, REMOVE on ``None`` (stored as absent)."""
    return [getattr(model, name).remove() if value is None else getattr(model, name).set(value)
            for name, value in changes.items()]


def shared_connection() -> Connection:
    """A PynamoDB connection on the shared client, for transactions and batch calls."""
    connection = Connection()
    connection._client = aws.client("dynamodb")
    return connection
