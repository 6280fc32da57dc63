"""``services.projects`` with a fixed clock: creation time, visibility, client links, errors."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.domain import fields, schemas
from chalicelib.errors import NotFound, ValidationError
from chalicelib.services import clients as client_service
from chalicelib.services import projects as service
from chalicelib.store import projects as store
from tests.services.conftest import NOW, caller_of, clock, clock_at, unread


def test_create_project_stamps_the_clocks_time(caller):
    project = service.create_project(caller, {"name": " Website ", "currency": "eur",
                                              "hourly_rate": "85"}, clock=clock)
    assert (project.created, project.name, project.currency, project.hourly_rate) == (
        NOW, "Website", "EUR", "85.00")
    stored = store.get_project(project.id)
    assert (stored.created, stored.owner_id, stored.organisation_id, stored.team_id) == (
        NOW, caller.user_id, caller.organisation_id, None)


def test_create_project_links_a_client_of_the_callers_organisation(caller):
    client = client_service.create_client(caller, {"name": "Acme"}, clock=clock)
    project = service.create_project(caller, {"name": "Website", "client_id": client.id},
                                     clock=clock)
    assert store.get_project(project.id).client_id == client.id


def test_a_client_of_another_organisation_is_not_found(caller, stranger):
    theirs = client_service.create_client(stranger, {"name": "Initrode"}, clock=clock)
    with pytest.raises(ValidationError) as raised:
        service.create_project(caller, {"client_id": theirs.id}, clock=clock)
    # every failing field in one error
    assert raised.value.errors == {"name": [fields.REQUIRED],
                                   "client_id": [schemas.CLIENT_NOT_FOUND]}
    assert service.list_projects(caller, {}).items == []


def test_a_caller_without_organisation_links_no_client(caller, solo):
    client = client_service.create_client(caller, {"name": "Acme"}, clock=clock)
    with pytest.raises(ValidationError) as raised:
        service.create_project(solo, {"name": "Website", "client_id": client.id}, clock=clock)
    assert raised.value.errors == {"client_id": [schemas.CLIENT_NOT_FOUND]}
    assert service.create_project(solo, {"name": "Website"}, clock=clock).organisation_id is None


def test_another_users_project_is_not_found(caller, stranger):
    project = service.create_project(caller, {"name": "Website"}, clock=clock)
    assert service.get_project(caller, project.id).id == project.id
    for project_id in (project.id, "not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            service.get_project(stranger, project_id)


def test_team_members_see_the_teams_projects(make_account, caller):
    project = service.create_project(caller, {"name": "Website"}, clock=clock)
    store.set_team(project, 7)
    colleague = make_account(organisation_id=caller.organisation_id, email="jim@example.com")
    assert service.get_project(caller_of(colleague, team_ids={7}), project.id).id == project.id
    with pytest.raises(NotFound):
        service.get_project(caller_of(colleague, team_ids={8}), project.id)


def test_list_projects_is_newest_first(caller, stranger):
    old = service.create_project(caller, {"name": "Old"}, clock=clock_at(NOW - timedelta(days=1)))
    new = service.create_project(caller, {"name": "New"}, clock=clock)
    service.create_project(stranger, {"name": "Theirs"}, clock=clock)
    assert [p.id for p in service.list_projects(caller, {}).items] == [new.id, old.id]


def test_update_project_formats_money_and_removes_with_null(caller):
    project = service.create_project(caller, {"name": "Website", "hourly_rate": "85"},
                                     clock=clock)
    updated = service.update_project(caller, project.id, lambda: {"hourly_rate": 90.5})
    assert updated.hourly_rate == "90.50"
    service.update_project(caller, project.id, lambda: {"hourly_rate": None, "name": "Intranet"})
    stored = store.get_project(project.id)
    assert (stored.hourly_rate, stored.name, stored.created) == (None, "Intranet", NOW)


def test_update_project_checks_the_body(caller):
    project = service.create_project(caller, {"name": "Website"}, clock=clock)
    with pytest.raises(ValidationError) as raised:
        service.update_project(caller, project.id,
                               lambda: {"name": "", "client_id": str(uuid.uuid4())})
    assert raised.value.errors == {"name": [fields.BLANK],
                                   "client_id": [schemas.CLIENT_NOT_FOUND]}
    assert store.get_project(project.id).name == "Website"


def test_update_of_another_users_project_is_not_found_before_the_body_is_read(caller, stranger):
    project = service.create_project(caller, {"name": "Website"}, clock=clock)
    with pytest.raises(NotFound):
        service.update_project(stranger, project.id, unread)
