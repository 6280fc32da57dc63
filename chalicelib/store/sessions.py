"""Tracked sessions in DynamoDB: the user's lists, and a project's sessions by start time.

The user's lists are read from four sparse indexes sorted by ``start_key`` (start time,
then id): a session is in ``running`` and ``running_by_project`` while it runs, then in
``closed`` and ``closed_by_project``. So every filter is a key condition and a page
costs one Query page per index it reads: ``active`` picks the state, ``project_id`` the
by-project pair, no ``active`` merges both states, and ``started_after``/
``started_before`` is a range on the sort key. A close moves a session between the
pairs in its one UpdateItem: the closed keys are its user id (known to the caller) and
a copy of its running by-project key (``SET closed_user_project =
running_user_project``), so the close needs no read, and no item stores a key twice. The ``by_project`` index projects only the times: it is what
invoicing reads, a bounded window of it per project. Writes that race are conditional
and answer in the session's own terms (:func:`close` → :class:`Closed`,
:class:`AlreadyClosed`, :class:`NotStarted` or :class:`Missing`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator, Union

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.constants import STREAM_NEW_AND_OLD_IMAGE
from pynamodb.exceptions import DeleteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib.store import pages
from chalicelib.store.base import (StageTableMeta, TableModel, condition_failed, ordered_key,
                                   time_key, update_actions)


class _Running(GlobalSecondaryIndex):
    class Meta:
        index_name = "running"
        projection = AllProjection()

    running_user_id = NumberAttribute(hash_key=True)
    start_key = UnicodeAttribute(range_key=True)


class _Closed(GlobalSecondaryIndex):
    class Meta:
        index_name = "closed"
        projection = AllProjection()

    closed_user_id = NumberAttribute(hash_key=True)
    start_key = UnicodeAttribute(range_key=True)


class _RunningByProject(GlobalSecondaryIndex):
    class Meta:
        index_name = "running_by_project"
        projection = AllProjection()

    running_user_project = UnicodeAttribute(hash_key=True)
    start_key = UnicodeAttribute(range_key=True)


class _ClosedByProject(GlobalSecondaryIndex):
    class Meta:
        index_name = "closed_by_project"
        projection = AllProjection()

    closed_user_project = UnicodeAttribute(hash_key=True)
    start_key = UnicodeAttribute(range_key=True)


class _ByProject(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_project"
        projection = IncludeProjection(["end_time"])

    project_id = UnicodeAttribute(hash_key=True)
    start_time = UTCDateTimeAttribute(range_key=True)


class Session(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "sessions"
        stream_view_type = STREAM_NEW_AND_OLD_IMAGE  # its changes are webhook events

    id = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    project_id = UnicodeAttribute()
    start_time = UTCDateTimeAttribute()
    end_time = UTCDateTimeAttribute(null=True)
    description = UnicodeAttribute(default="")
    started_via = UnicodeAttribute(default="api")
    start_key = UnicodeAttribute()  # the user's lists' order: start time, then id
    # The lists' keys: the running pair while the session runs, then the closed pair
    # (the by-project keys are "<user id>#<project id>").
    running_user_id = NumberAttribute(null=True)
    running_user_project = UnicodeAttribute(null=True)
    closed_user_id = NumberAttribute(null=True)
    closed_user_project = UnicodeAttribute(null=True)

    running = _Running()
    closed = _Closed()
    running_by_project = _RunningByProject()
    closed_by_project = _ClosedByProject()
    by_project = _ByProject()

    @property
    def is_active(self) -> bool:
        return self.end_time is None

    @property
    def total_seconds(self) -> int:
        if self.end_time is None:
            return 0
        return int((self.end_time - self.start_time).total_seconds())


MODELS = (Session,)


@dataclass(frozen=True)
class Closed:
    """This close ended the session."""

    session: Session


@dataclass(frozen=True)
class AlreadyClosed:
    """The session had already ended (possibly by a concurrent close)."""

    session: Session


@dataclass(frozen=True)
class NotStarted:
    """The session is running but starts after the requested end."""

    session: Session


@dataclass(frozen=True)
class Missing:
    """No such session for this user."""


CloseResult = Union[Closed, AlreadyClosed, NotStarted, Missing]


def get_session(session_id: str) -> Session | None:
    try:
        return Session.get(session_id, consistent_read=True)
    except Session.DoesNotExist:
        return None


def build(*, user_id: int, project_id: str, start_time: datetime, end_time: datetime | None,
          description: str = "", started_via: str = "api") -> Session:
    """A new session as it is stored, its index keys included (not yet written)."""
    session_id = str(uuid.uuid4())
    user_project = _user_project(user_id, project_id)
    return Session(session_id, user_id=user_id, project_id=project_id,
                   start_time=start_time, end_time=end_time, description=description,
                   started_via=started_via, start_key=ordered_key(start_time, session_id),
                   **_state_keys(user_id, user_project, running=end_time is None))


def create(*, user_id: int, project_id: str, start_time: datetime, end_time: datetime | None,
           description: str, started_via: str) -> Session:
    """Store a new session (running when ``end_time`` is None)."""
    session = build(user_id=user_id, project_id=project_id, start_time=start_time,
                    end_time=end_time, description=description, started_via=started_via)
    session.save(condition=Session.id.does_not_exist())
    return session


def close(session_id: str, user_id: int, at: datetime) -> CloseResult:
    """End the user's running session at ``at``: one conditional UpdateItem.

    Among concurrent closes exactly one gets :class:`Closed`; the others read the
    session and get :class:`AlreadyClosed`.
    """
    session = Session(session_id)
    try:
        session.update(
            actions=[Session.end_time.set(at), *_closing_actions(user_id)],
            condition=(Session.user_id == user_id) & Session.end_time.does_not_exist()
            & (Session.start_time <= at))
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        existing = get_session(session_id)
        if existing is None or int(existing.user_id) != user_id:
            return Missing()
        if existing.end_time is None:
            return NotStarted(existing)
        return AlreadyClosed(existing)
    return Closed(session)


def amend(session: Session, changes: dict) -> Session | None:
    """Apply a PATCH's ``changes`` if the session is still running (or still closed) as read.

    Setting ``end_time`` on a running session closes it; a closed session never
    reopens, so concurrent amendments of a closed session do not conflict. Returns the
    updated session, or None when it was closed or deleted meanwhile (read it again).
    """
    changes = dict(changes)
    user_id = int(session.user_id)
    was_running = session.end_time is None
    closing = was_running and "end_time" in changes
    moves = []
    if "project_id" in changes:
        changes.update(_state_keys(user_id, _user_project(user_id, changes["project_id"]),
                                   running=was_running and not closing))
    elif closing:  # the project as stored, not as read: another PATCH may have moved it
        moves = _closing_actions(user_id)
    actions = update_actions(Session, changes) + moves
    unchanged = Session.end_time.does_not_exist() if was_running else Session.end_time.exists()
    try:
        session.update(actions=actions, condition=(Session.user_id == int(session.user_id))
                       & unchanged)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return None
    return session


def delete(session_id: str, user_id: int) -> bool:
    """Delete the user's session; False when there is none."""
    try:
        Session(session_id).delete(condition=Session.user_id == user_id)
    except DeleteError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


def _user_project(user_id: int, project_id: str) -> str:
    return f"{user_id}#{project_id}"


def _state_keys(user_id: int, user_project: str, *, running: bool) -> dict:
    """The list indexes' keys of a running or a closed session (the other pair absent)."""
    return {"running_user_id": user_id if running else None,
            "running_user_project": user_project if running else None,
            "closed_user_id": None if running else user_id,
            "closed_user_project": None if running else user_project}


def _closing_actions(user_id: int) -> list:
    """Move a running session to the closed pair without reading it (see the module doc):
    DynamoDB evaluates every operand against the item as it was, so the by-project key is
    copied before it is removed."""
    return [Session.closed_user_id.set(user_id),
            Session.closed_user_project.set(Session.running_user_project),
            Session.running_user_id.remove(), Session.running_user_project.remove()]


def listing(user_id: int, *, active: bool | None = None, project_id: str | None = None,
            started_after: datetime | None = None,
            started_before: datetime | None = None) -> pages.Listing:
    """The user's sessions with these filters, newest start first (ties by id, descending)."""
    start = None
    if started_after is not None and started_before is not None:
        start = Session.start_key.between(time_key(started_after), time_key(started_before))
    elif started_after is not None:
        start = Session.start_key >= time_key(started_after)
    elif started_before is not None:
        start = Session.start_key < time_key(started_before)
    if project_id is None:
        states = {"running": (Session.running, user_id), "closed": (Session.closed, user_id)}
    else:
        user_project = _user_project(user_id, project_id)
        states = {"running": (Session.running_by_project, user_project),
                  "closed": (Session.closed_by_project, user_project)}
    if active is not None:
        del states["closed" if active else "running"]
    sources = tuple(pages.Source(name, Session, index, key, start)
                    for name, (index, key) in states.items())
    return pages.Listing(sources, order=lambda s: s.start_key, descending=True)


def closed_spans(project_id: str, earliest_start: datetime, before: datetime,
                 ends_after: datetime) -> Iterator[Session]:
    """Closed sessions of a project that started in ``[earliest_start, before)`` and end after
    ``ends_after``: a paged Query of the ``by_project`` index."""
    return Session.by_project.query(
        project_id,
        range_key_condition=Session.start_time.between(
            earliest_start, before - timedelta(microseconds=1)),
        filter_condition=Session.end_time > ends_after)
