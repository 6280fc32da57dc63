"""A stage's infrastructure for the local stack and the operator's ``bootstrap``: tables and queues.

Deployed stages get theirs from the deployment template instead; this creates what is
missing (idempotent) from the same sources, the models and the queue settings.
"""
from __future__ import annotations


def bootstrap(wait: bool = True) -> dict:
    """Create the stage's missing tables and its queues; what was created and the queue URL.

    ``wait`` for new tables to be ACTIVE (the embedded AWS makes them so at once).
    """
    from chalicelib.events import queue
    from chalicelib.store import tables
    return {"tables_created": tables.create_tables(wait), "queue_url": queue.create_queues()}
