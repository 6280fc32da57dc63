"""Projects in DynamoDB, with the indexes their lists and invoices read.

Projects are listed by owner and by team (newest first: ``created_key`` is the creation
time, then the id), merged into one list, and by client for invoicing.
Each project also keeps the set of power-of-two hour buckets its closed sessions have
needed (``span_buckets``): the longest bucket bounds how far before a billing window an
overlapping session can have started.
"""
from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Iterable

from pynamodb.attributes import (BooleanAttribute, NumberAttribute, NumberSetAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.constants import STREAM_NEW_AND_OLD_IMAGE
from pynamodb.exceptions import UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store import batch, pages
from chalicelib.store.base import (StageTableMeta, TableModel, condition_failed, ordered_key,
                                   update_actions)


class _ByOwner(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = NumberAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _ByTeam(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_team"
        projection = AllProjection()

    team_id = NumberAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class _ByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_client"
        projection = AllProjection()

    client_id = UnicodeAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class Project(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "projects"
        stream_view_type = STREAM_NEW_AND_OLD_IMAGE  # its changes are webhook events

    id = UnicodeAttribute(hash_key=True)
    owner_id = NumberAttribute()
    organisation_id = NumberAttribute(null=True)
    team_id = NumberAttribute(null=True)
    name = UnicodeAttribute()
    is_active = BooleanAttribute(default=False)
    currency = UnicodeAttribute(default="USD")
    hourly_rate = UnicodeAttribute(null=True)
    client_id = UnicodeAttribute(null=True)
    created = UTCDateTimeAttribute()
    created_key = UnicodeAttribute()  # the lists' order: creation time, then id
    span_buckets = NumberSetAttribute(null=True)

    by_owner = _ByOwner()
    by_team = _ByTeam()
    by_client = _ByClient()

    def visible_to(self, user_id: int, team_ids: Iterable[int]) -> bool:
        return int(self.owner_id) == user_id or (
            self.team_id is not None and int(self.team_id) in set(team_ids))

    def longest_span(self) -> timedelta:
        """An upper bound on the length of any closed session of this project."""
        return timedelta(hours=max(self.span_buckets or {0}))


MODELS = (Project,)


def span_bucket(seconds: int) -> int:
    """The smallest power-of-two number of hours that holds ``seconds``."""
    hours = max(1, math.ceil(seconds / 3600))
    return 1 << (hours - 1).bit_length()


def get_project(project_id: str) -> Project | None:
    try:
        return Project.get(project_id)
    except Project.DoesNotExist:
        return None


def build(*, owner_id: int, organisation_id: int | None, name: str, created: datetime,
          is_active: bool = False, currency: str = "USD", hourly_rate: str | None = None,
          client_id: str | None = None) -> Project:
    """A new project as it is stored, its index keys included (not yet written)."""
    project_id = str(uuid.uuid4())
    return Project(project_id, owner_id=owner_id, organisation_id=organisation_id,
                   name=name, is_active=is_active, currency=currency,
                   hourly_rate=hourly_rate, client_id=client_id, created=created,
                   created_key=ordered_key(created, project_id))


def create(*, owner_id: int, organisation_id: int | None, name: str, is_active: bool,
           currency: str, hourly_rate: str | None, client_id: str | None,
           created: datetime) -> Project:
    """Store a new project (no team: operators assign teams later)."""
    project = build(owner_id=owner_id, organisation_id=organisation_id, name=name,
                    is_active=is_active, currency=currency, hourly_rate=hourly_rate,
                    client_id=client_id, created=created)
    project.save(condition=Project.id.does_not_exist())
    return project


def _update(project: Project, actions: list) -> Project | None:
    try:
        project.update(actions=actions, condition=Project.id.exists())
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return None
    return project


def update(project: Project, changes: dict) -> Project | None:
    """Set ``changes`` (None removes); the updated project, or None if it was deleted."""
    actions = update_actions(Project, changes)
    return _update(project, actions) if actions else project


def set_team(project: Project, team_id: int | None) -> Project | None:
    """Make a project a team project (or a personal one again)."""
    return update(project, {"team_id": team_id})


def record_span(project_id: str, seconds: int) -> Project | None:
    """Note a closed session's length on its project; returns the project (one UpdateItem),
    or None when the project no longer exists."""
    return _update(Project(project_id), [Project.span_buckets.add({span_bucket(seconds)})])


def project_names(project_ids: Iterable[str]) -> dict[str, str]:
    """Current names of projects: one eventually consistent BatchGetItem per 100 ids."""
    return {project_id: project.name for project_id, project in projects_by_id(project_ids).items()}


def projects_by_id(project_ids: Iterable[str]) -> dict[str, Project]:
    """Projects by id (one eventually consistent BatchGetItem per 100; a rename or a rate
    a second old may show); unknown ids are absent."""
    return batch.get_items({Project: project_ids}, consistent=False)[Project]


def listing(user_id: int, team_ids: Iterable[int]) -> pages.Listing:
    """Projects the user owns or that belong to their teams, newest first (ties by id)."""
    sources = [pages.Source("owner", Project, Project.by_owner, user_id)]
    sources += [pages.Source(f"team:{team_id}", Project, Project.by_team, team_id)
                for team_id in sorted(set(team_ids))]
    return pages.Listing(tuple(sources), order=lambda p: p.created_key, descending=True)


def projects_of_client(client_id: str) -> list[Project]:
    return list(Project.by_client.query(client_id))
