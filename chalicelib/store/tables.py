"""Every table the service uses, taken from its model: the source for bootstrap and the template."""
from __future__ import annotations

from chalicelib.store import (accounts, clients, deliveries, idempotency, invoices, projects,
                              sessions, webhooks)
from chalicelib import aws
from chalicelib.store.base import TableModel

MODELS: tuple[type[TableModel], ...] = (*accounts.MODELS, *projects.MODELS, *clients.MODELS,
                                           *sessions.MODELS, *invoices.MODELS, *webhooks.MODELS,
                                           *deliveries.MODELS, *idempotency.MODELS)


def existing_tables() -> set[str]:
    """The names of the account's tables in this region (ListTables, every page)."""
    client, names, start = aws.client("dynamodb"), set(), None
    while True:
        page = client.list_tables(**({"ExclusiveStartTableName": start} if start else {}))
        names.update(page.get("TableNames", []))
        start = page.get("LastEvaluatedTableName")
        if not start:
            return names


def create_tables(wait: bool = True) -> list[str]:
    """Create the stage's missing tables (idempotent); returns the names created.

    ``wait``: until each is ACTIVE (AWS takes seconds; the embedded one is immediate).
    """
    existing = existing_tables()
    created = []
    for model in MODELS:
        if model.Meta.table_name not in existing:
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
            created.append(model.Meta.table_name)
    return created
