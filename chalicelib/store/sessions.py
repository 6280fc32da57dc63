"""Tracked sessions in DynamoDB: the user's list, the running ones, and a project's by start time.

``running_user_id`` exists only while a session runs, so the ``running`` index holds
just the running sessions. The ``by_project`` index projects only the times: it is what
invoicing reads, a bounded window of it per project.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib.store.base import StageTableMeta, TableModel


class _ByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = NumberAttribute(hash_key=True)
    start_time = UTCDateTimeAttribute(range_key=True)


class _Running(GlobalSecondaryIndex):
    class Meta:
        index_name = "running"
        projection = AllProjection()

    running_user_id = NumberAttribute(hash_key=True)
    start_time = UTCDateTimeAttribute(range_key=True)


class _ByProject(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_project"
        projection = IncludeProjection(["end_time"])

    project_id = UnicodeAttribute(hash_key=True)
    start_time = UTCDateTimeAttribute(range_key=True)


class Session(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "sessions"

    id = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    project_id = UnicodeAttribute()
    start_time = UTCDateTimeAttribute()
    end_time = UTCDateTimeAttribute(null=True)
    description = UnicodeAttribute(default="")
    started_via = UnicodeAttribute(default="api")
    running_user_id = NumberAttribute(null=True)

    by_user = _ByUser()
    running = _Running()
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


def get_session(session_id: str) -> Session | None:
    try:
        return Session.get(session_id, consistent_read=True)
    except Session.DoesNotExist:
        return None


def sessions_of(user_id: int, *, active: bool | None = None,
                project_id: str | None = None) -> list[Session]:
    """The user's sessions, newest start first (ties by id, descending)."""
    condition = None
    if project_id is not None:
        condition = Session.project_id == project_id
    if active is True:
        found = Session.running.query(user_id, filter_condition=condition, scan_index_forward=False)
    else:
        if active is False:
            closed = Session.end_time.exists()
            condition = closed if condition is None else condition & closed
        found = Session.by_user.query(user_id, filter_condition=condition,
                                      scan_index_forward=False)
    return sorted(found, key=lambda s: (s.start_time, s.id), reverse=True)


def closed_spans(project_id: str, earliest_start: datetime, before: datetime,
                 ends_after: datetime) -> Iterator[Session]:
    """Closed sessions of a project that started in ``[earliest_start, before)`` and end after
    ``ends_after``: a paged Query of the ``by_project`` index."""
    return Session.by_project.query(
        project_id,
        range_key_condition=Session.start_time.between(
            earliest_start, before - timedelta(microseconds=1)),
        filter_condition=Session.end_time > ends_after)
