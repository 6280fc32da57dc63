"""Projects and clients in DynamoDB, with the indexes their lists and invoices read.

Projects are listed by owner and by team (newest first), and by client for invoicing;
clients by organisation in name order. Each project also keeps the set of power-of-two
hour buckets its closed sessions have needed (``span_buckets``): the longest bucket
bounds how far before a billing window an overlapping session can have started.
"""
from __future__ import annotations

import math
from datetime import timedelta
from typing import Iterable

from pynamodb.attributes import (BooleanAttribute, NumberAttribute, NumberSetAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.errors import BadRequest, NotFound
from chalicelib.store.base import StageTableMeta, TableModel


class _ByOwner(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner_id = NumberAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class _ByTeam(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_team"
        projection = AllProjection()

    team_id = NumberAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class _ByClient(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_client"
        projection = AllProjection()

    client_id = UnicodeAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class Project(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "projects"

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


class _ClientsByOrganisation(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_organisation"
        projection = AllProjection()

    organisation_id = NumberAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True)


class Client(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "clients"

    id = UnicodeAttribute(hash_key=True)
    organisation_id = NumberAttribute()
    name = UnicodeAttribute()
    name_key = UnicodeAttribute()  # case-folded name + id: the list's order
    company = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    hourly_rate = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(default="USD")
    created = UTCDateTimeAttribute()

    by_organisation = _ClientsByOrganisation()

    @staticmethod
    def sort_key(name: str, client_id: str) -> str:
        """Case-folded name, then the id. DynamoDB caps a sort key at 1,024 bytes, so the
        name is cut at 900 UTF-8 bytes (the list is sorted again in full after reading)."""
        folded = name.casefold().encode()[:900].decode(errors="ignore")
        return f"{folded}\x00{client_id}"


MODELS = (Project, Client)


def span_bucket(seconds: int) -> int:
    """The smallest power-of-two number of hours that holds ``seconds``."""
    hours = max(1, math.ceil(seconds / 3600))
    return 1 << (hours - 1).bit_length()


def get_project(project_id: str) -> Project | None:
    try:
        return Project.get(project_id)
    except Project.DoesNotExist:
        return None


def record_span(project_id: str, seconds: int) -> Project | None:
    """Note a closed session's length on its project; returns the project (one UpdateItem)."""
    project = Project(project_id)
    try:
        project.update(actions=[Project.span_buckets.add({span_bucket(seconds)})],
                       condition=Project.id.exists())
    except Project.UpdateError:
        return None
    return project


def project_names(project_ids: Iterable[str]) -> dict[str, str]:
    """Current names of projects: one BatchGetItem per 100 ids."""
    ids = sorted(set(project_ids))
    if not ids:
        return {}
    return {p.id: p.name for p in Project.batch_get(ids, attributes_to_get=["id", "name"])}


def projects_by_id(project_ids: Iterable[str]) -> dict[str, Project]:
    """Projects by id (one BatchGetItem per 100); unknown ids are absent."""
    ids = sorted(set(project_ids))
    return {p.id: p for p in Project.batch_get(ids)} if ids else {}


def visible_projects(user_id: int, team_ids: Iterable[int]) -> list[Project]:
    """Projects the user owns or that belong to their teams, newest first."""
    found = {p.id: p for p in Project.by_owner.query(user_id)}
    for team_id in sorted(set(team_ids)):
        found.update((p.id, p) for p in Project.by_team.query(team_id))
    return sorted(found.values(), key=lambda p: (p.created, p.id), reverse=True)


def projects_of_client(client_id: str) -> list[Project]:
    return list(Project.by_client.query(client_id))


def assign_team(project_id: str, team_id: int | None) -> Project:
    """Operator command: make a project a team project (or a personal one again)."""
    from chalicelib.store.accounts import get_team
    project = get_project(project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found.")
    if team_id is None:
        project.update(actions=[Project.team_id.remove()])
        return project
    team = get_team(team_id)
    if project.organisation_id is None or int(team.organisation_id) != int(project.organisation_id):
        raise BadRequest(f"Team {team_id} is not in project {project_id}'s organisation.")
    project.update(actions=[Project.team_id.set(team_id)])
    return project


def get_client(client_id: str) -> Client | None:
    try:
        return Client.get(client_id)
    except Client.DoesNotExist:
        return None


def clients_of(organisation_id: int) -> list[Client]:
    return list(Client.by_organisation.query(organisation_id))
