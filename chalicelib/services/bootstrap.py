"""A stage's infrastructure for the local stack and the operator's ``bootstrap``: tables and queues.

Deployed stages get theirs from the deployment template instead; this creates what is
missing (idempotent) from the same sources, the models and the queue settings.
"""
from __future__ import annotations


def bootstrap() -> dict:
    """Create the stage's missing tables and its queues; what was created and the queue URL."""
    from chalicelib.events import queue
    from chalicelib.store import tables
    return {"tables_created": tables.create_tables(), "queue_url": queue.create_queues()}
