"""Every table the service uses, taken from its model: the source for bootstrap and the template."""
from __future__ import annotations

from chalicelib.store import (accounts, clients, deliveries, idempotency, invoices, projects,
                              sessions, webhooks)
from chalicelib.store.base import TableModel

MODELS: tuple[type[TableModel], ...] = (*accounts.MODELS, *projects.MODELS, *clients.MODELS,
                                           *sessions.MODELS, *invoices.MODELS, *webhooks.MODELS,
                                           *deliveries.MODELS, *idempotency.MODELS)


def create_tables() -> list[str]:
    """Create the stage's missing tables (idempotent); returns the names created."""
    created = []
    for model in MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
    return created
