"""The one place a change announces itself: services ``emit`` each event once, publishers deliver it.

A change carries its webhook ``data`` and its audience (who may see the resource,
SPEC section 5). The webhook fan-out registers itself as a publisher; tests register
a recorder. With no publisher an event is simply dropped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from chalicelib.domain.events import EVENTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Audience:
    """Who may receive an event: these users, or every user of this organisation.

    A project's team never adds to ``project.created``'s audience: projects are created
    without a team (operators assign teams later), so its owner is the whole audience.
    """

    user_ids: frozenset[int] = frozenset()
    organisation_id: int | None = None


@dataclass(frozen=True)
class Change:
    event: str
    occurred_at: int
    data: dict
    audience: Audience = field(default_factory=Audience)


Publisher = Callable[[Change], None]
_publishers: list[Publisher] = []


def add_publisher(publisher: Publisher) -> None:
    if publisher not in _publishers:
        _publishers.append(publisher)


def remove_publisher(publisher: Publisher) -> None:
    if publisher in _publishers:
        _publishers.remove(publisher)


def emit(change: Change) -> None:
    """Hand the change to every publisher; a failing publisher never fails the request."""
    if change.event not in EVENTS:
        raise ValueError(f"unknown event {change.event!r}")
    for publisher in list(_publishers):
        try:
            publisher(change)
        except Exception:
            log.exception("publishing %s failed", change.event)
