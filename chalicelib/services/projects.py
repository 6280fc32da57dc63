"""Projects: visibility (owner or team), client links, creation and amendment."""
from __future__ import annotations

from typing import Callable, Mapping

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.domain.money import format_money
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.errors import NotFound
from chalicelib.services import listing
from chalicelib.services.clients import organisation_client
from chalicelib.store import projects as store
from chalicelib.store.projects import Project


def visible_project(caller: Caller, project_id: str) -> Project | None:
    """The project if the caller may see it (one GetItem), else None."""
    project_id = schemas.path_uuid(project_id)
    project = store.get_project(project_id) if project_id else None
    if project is None or not project.visible_to(caller.user_id, caller.team_ids):
        return None
    return project


def get_project(caller: Caller, project_id: str) -> Project:
    project = visible_project(caller, project_id)
    if project is None:
        raise NotFound()
    return project


def list_projects(caller: Caller, query: Mapping[str, str | None]) -> listing.Listed:
    """Projects the caller owns or that belong to their teams, newest first."""
    _, page = listing.validated(None, query)
    return listing.listed("projects", caller, {}, page,
                          store.listing(caller.user_id, caller.team_ids))


def _client_error(caller: Caller, client_id: str | None) -> str | None:
    """The ``client_id`` error unless it names a client of the caller's organisation (or is null)."""
    if client_id is None or organisation_client(caller, client_id) is not None:
        return None
    return schemas.CLIENT_NOT_FOUND


def _validate(caller: Caller, schema, body: object, *, partial: bool = False) -> dict:
    return schemas.validate(schema, body, {"client_id": lambda value: _client_error(caller, value)},
                            partial=partial)


def create_project(caller: Caller, body: object, clock: Clock = utc_now) -> Project:
    data = _validate(caller, schemas.PROJECT_CREATE, body)
    return store.create(owner_id=caller.user_id, organisation_id=caller.organisation_id,
                        name=data["name"], is_active=data["is_active"], currency=data["currency"],
                        hourly_rate=format_money(data["hourly_rate"]),
                        client_id=data["client_id"], created=clock())


def update_project(caller: Caller, project_id: str, read_body: Callable[[], object]) -> Project:
    """PATCH: the body is read only once the project is found (404 before 400/415)."""
    project = get_project(caller, project_id)
    data = _validate(caller, schemas.PROJECT_UPDATE, read_body(), partial=True)
    if "hourly_rate" in data:
        data["hourly_rate"] = format_money(data["hourly_rate"])
    updated = store.update(project, data)
    if updated is None:
        raise NotFound()
    return updated
