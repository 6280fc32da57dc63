"""``services.sessions`` with a fixed clock: when sessions start and end, and the errors raised."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.errors import NotFound, ValidationError
from chalicelib.services import projects as project_service
from chalicelib.services import sessions as service
from chalicelib.store import projects as project_store
from chalicelib.store import sessions as session_store
from chalicelib.store.pages import read_all
from tests.services.conftest import NOW, UTC, caller_of, clock, clock_at, unread

NOW_SECOND = NOW.replace(microsecond=0)


@pytest.fixture
def project(caller):
    """A project of the default caller."""
    return project_service.create_project(caller, {"name": "Website"}, clock=clock)


def start(caller: Caller, project, **body) -> service.SessionView:
    return service.create_session(caller, {"project_id": project.id, **body}, clock=clock)


# --- create -------------------------------------------------------------------------------

def test_a_session_starts_at_the_clocks_whole_second(caller, project):
    view = start(caller, project)
    assert (view.session.start_time, view.session.end_time) == (NOW_SECOND, None)
    assert view.project_name == "Website"
    assert session_store.get_session(view.session.id).start_time == NOW_SECOND


def test_a_session_logged_closed_records_its_length_on_the_project(caller, project):
    view = start(caller, project, start_time="2026-06-25T09:00:00Z",
                 end_time="2026-06-25T10:30:00+00:00")
    assert (view.session.start_time, view.session.end_time) == (
        datetime(2026, 6, 25, 9, tzinfo=UTC), datetime(2026, 6, 25, 10, 30, tzinfo=UTC))
    assert view.project_name == "Website"
    assert project_store.get_project(project.id).span_buckets == {2}


def test_a_session_on_another_users_project_is_refused(caller, stranger, project):
    with pytest.raises(ValidationError) as raised:
        start(stranger, project)
    assert raised.value.errors == {"project_id": [schemas.PROJECT_NOT_FOUND]}
    assert read_all(session_store.listing(stranger.user_id)) == []


def test_a_team_project_takes_its_members_sessions(make_account, caller, project):
    member = make_account(organisation_id=caller.organisation_id, email="jim@example.com")
    project_store.set_team(project, 7)
    view = start(caller_of(member, team_ids={7}), project)
    assert view.session.user_id == member.user_id


def test_an_end_before_the_start_is_refused(caller, project):
    with pytest.raises(ValidationError) as raised:
        start(caller, project, start_time="2026-06-25T10:00:00Z", end_time="2026-06-25T09:59:59Z")
    assert raised.value.errors == {"end_time": [schemas.END_BEFORE_START]}
    assert read_all(session_store.listing(caller.user_id)) == []


# --- close --------------------------------------------------------------------------------

def test_close_ends_the_session_at_the_clocks_whole_second(caller, project):
    session = start(caller, project, start_time="2026-06-26T08:00:00Z").session
    result = service.close_session(caller, session.id, clock=clock)
    assert result.closed_now is True
    assert result.view.session.end_time == NOW_SECOND
    assert result.view.session.total_seconds == 5415  # 1 h 30 min 15 s
    assert result.view.project_name == "Website"
    assert session_store.get_session(session.id).end_time == NOW_SECOND
    assert project_store.get_project(project.id).span_buckets == {2}


def test_closing_again_keeps_the_first_end(caller, project):
    session = start(caller, project).session
    service.close_session(caller, session.id, clock=clock)
    again = service.close_session(caller, session.id, clock=clock_at(NOW + timedelta(hours=2)))
    assert again.closed_now is False
    assert again.view.session.end_time == NOW_SECOND
    assert again.view.project_name == "Website"


def test_a_session_starting_after_the_clock_closes_at_its_start(caller, project):
    later = NOW_SECOND + timedelta(hours=1)
    session = start(caller, project, start_time=later.isoformat()).session
    result = service.close_session(caller, session.id, clock=clock)
    assert result.closed_now is True
    assert (result.view.session.end_time, result.view.session.total_seconds) == (later, 0)
    assert session_store.get_session(session.id).end_time == later


def test_close_of_another_users_session_is_not_found(caller, stranger, project):
    session = start(caller, project).session
    with pytest.raises(NotFound):
        service.close_session(stranger, session.id, clock=clock)
    assert session_store.get_session(session.id).end_time is None


@pytest.mark.parametrize("session_id", ["not-a-uuid", str(uuid.uuid4())])
def test_close_of_an_unknown_session_is_not_found(caller, session_id):
    with pytest.raises(NotFound):
        service.close_session(caller, session_id, clock=clock)


# --- update -------------------------------------------------------------------------------

def test_setting_end_time_closes_the_session(caller, project):
    session = start(caller, project, start_time="2026-06-26T08:00:00Z").session
    view = service.update_session(caller, session.id,
                                  lambda: {"end_time": "2026-06-26T08:45:00Z"})
    assert view.session.end_time == datetime(2026, 6, 26, 8, 45, tzinfo=UTC)
    assert read_all(session_store.listing(caller.user_id, active=True)) == []
    assert project_store.get_project(project.id).span_buckets == {1}


def test_an_end_before_the_start_is_refused_on_update(caller, project):
    session = start(caller, project, start_time="2026-06-26T08:00:00Z").session
    with pytest.raises(ValidationError) as raised:
        service.update_session(caller, session.id,
                               lambda: {"end_time": "2026-06-26T07:59:59Z"})
    assert raised.value.errors == {"end_time": [schemas.END_BEFORE_START]}
    assert session_store.get_session(session.id).end_time is None


def test_moving_a_session_to_an_invisible_project_is_refused(caller, stranger, project):
    theirs = project_service.create_project(stranger, {"name": "Theirs"}, clock=clock)
    session = start(caller, project).session
    with pytest.raises(ValidationError) as raised:
        service.update_session(caller, session.id, lambda: {"project_id": theirs.id})
    assert raised.value.errors == {"project_id": [schemas.PROJECT_NOT_FOUND]}
    assert session_store.get_session(session.id).project_id == project.id


def test_update_of_another_users_session_is_not_found_before_the_body_is_read(caller, stranger,
                                                                              project):
    session = start(caller, project).session
    with pytest.raises(NotFound):
        service.update_session(stranger, session.id, unread)


def test_an_update_racing_a_close_applies_to_the_closed_session(caller, project):
    session = start(caller, project, start_time="2026-06-26T08:00:00Z").session
    closed_at = datetime(2026, 6, 26, 8, 20, tzinfo=UTC)

    def body_after_a_concurrent_close():
        session_store.close(session.id, caller.user_id, closed_at)
        return {"description": "Design review"}

    view = service.update_session(caller, session.id, body_after_a_concurrent_close)
    assert (view.session.end_time, view.session.description) == (closed_at, "Design review")
    stored = session_store.get_session(session.id)
    assert (stored.end_time, stored.description) == (closed_at, "Design review")


# --- delete, get, list ---------------------------------------------------------------------

def test_delete_removes_the_callers_session(caller, project):
    session = start(caller, project).session
    service.delete_session(caller, session.id)
    assert session_store.get_session(session.id) is None
    with pytest.raises(NotFound):
        service.get_session(caller, session.id)


def test_delete_of_another_users_session_is_not_found_and_keeps_it(caller, stranger, project):
    session = start(caller, project).session
    for session_id in (session.id, "not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            service.delete_session(stranger, session_id)
    assert session_store.get_session(session.id) is not None


def test_get_of_another_users_session_is_not_found(caller, stranger, project):
    session = start(caller, project).session
    assert service.get_session(caller, session.id).project_name == "Website"
    with pytest.raises(NotFound):
        service.get_session(stranger, session.id)


def test_list_sessions_names_projects_and_checks_its_filters(caller, project):
    running = start(caller, project).session
    with pytest.raises(ValidationError) as raised:
        service.list_sessions(caller, {"active": "yes", "project_id": "not-a-uuid"}).items
    assert raised.value.errors == {"active": [schemas.ACTIVE_FILTER],
                                   "project_id": ["Must be a valid UUID."]}
    listed = service.list_sessions(caller, {"active": "true", "project_id": project.id}).items
    assert [(v.session.id, v.project_name) for v in listed] == [(running.id, "Website")]
    assert service.list_sessions(caller, {"active": "false", "project_id": None}).items == []
