"""Sessions: private to their user; starting, logging, closing (exactly once) and amending.

Closing is one conditional UpdateItem (``end_time`` must not exist yet), so among
concurrent closes exactly one succeeds and fires ``session.closed``; the others
answer with the already-closed shape. Every closed session also records its length
bucket on its project (see :mod:`chalicelib.store.projects`), which is also how the
response learns the project's current name without another read.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from pynamodb.exceptions import UpdateError

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.domain.timestamps import utc_now
from chalicelib.errors import NotFound
from chalicelib.events import bus, payloads
from chalicelib.services.projects import visible_project
from chalicelib.store import projects as project_store
from chalicelib.store import sessions as store
from chalicelib.store.base import update_actions
from chalicelib.store.projects import Project
from chalicelib.store.sessions import Session

PROJECT_NOT_FOUND = "Project not found."
MAX_PATCH_ATTEMPTS = 3


@dataclass(frozen=True)
class SessionView:
    """A session with its project's current name, as the API shows it."""

    session: Session
    project_name: str


@dataclass(frozen=True)
class CloseResult:
    view: SessionView
    closed_now: bool


def _own(caller: Caller, session_id: str) -> Session:
    session_id = schemas.path_uuid(session_id)
    session = store.get_session(session_id) if session_id else None
    if session is None or int(session.user_id) != caller.user_id:
        raise NotFound()
    return session


def _name_of(project_id: str) -> str:
    return project_store.project_names([project_id]).get(project_id, "")


def _emit(event: str, view: SessionView, when: datetime) -> None:
    bus.emit(bus.Change(event, int(when.timestamp()),
                        payloads.session_data(view.session, view.project_name),
                        bus.Audience(user_ids=frozenset({int(view.session.user_id)}))))


def _closed_view(session: Session) -> SessionView:
    """Record the closed session's length on its project; that write returns the name."""
    project = project_store.record_span(session.project_id, session.total_seconds)
    return SessionView(session, project.name if project else _name_of(session.project_id))


def get_session(caller: Caller, session_id: str) -> SessionView:
    session = _own(caller, session_id)
    return SessionView(session, _name_of(session.project_id))


def list_sessions(caller: Caller, active: str | None, project_id: str | None) -> list[SessionView]:
    query = schemas.filters(schemas.SESSION_FILTERS, {"active": active, "project_id": project_id})
    found = store.sessions_of(caller.user_id, active=query.get("active"),
                              project_id=query.get("project_id"))
    names = project_store.project_names(s.project_id for s in found)
    return [SessionView(s, names.get(s.project_id, "")) for s in found]


def _project_lookup(caller: Caller, found: dict) -> Callable[[object], str | None]:
    """A ``project_id`` lookup for :func:`schemas.validate` that keeps the project in ``found``."""
    def lookup(project_id: object) -> str | None:
        found["project"] = visible_project(caller, str(project_id))
        return None if found["project"] is not None else PROJECT_NOT_FOUND
    return lookup


def create_session(caller: Caller, body: object) -> SessionView:
    found: dict = {}
    data = schemas.validate(schemas.SESSION_CREATE, body,
                            {"project_id": _project_lookup(caller, found)})
    project = found["project"]
    running = data["end_time"] is None
    session = Session(str(uuid.uuid4()), user_id=caller.user_id, project_id=project.id,
                      start_time=data["start_time"], end_time=data["end_time"],
                      description=data["description"], started_via=data["started_via"],
                      running_user_id=caller.user_id if running else None)
    session.save(condition=Session.id.does_not_exist())
    view = SessionView(session, project.name)
    if not running:
        view = _closed_view(session)
    _emit("session.created", view, utc_now())
    return view


def close_session(caller: Caller, session_id: str,
                  clock: Callable[[], datetime] = utc_now) -> CloseResult:
    """End a running session now; idempotent, and only one concurrent close wins."""
    session_id = schemas.path_uuid(session_id)
    if session_id is None:
        raise NotFound()
    now = clock()
    session = Session(session_id)
    try:
        session.update(
            actions=[Session.end_time.set(now), Session.running_user_id.remove()],
            condition=(Session.user_id == caller.user_id) & Session.end_time.does_not_exist()
            & (Session.start_time <= now))
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = _own(caller, session_id)
        if existing.end_time is None:  # started in the future: close at its start
            return close_session(caller, session_id, clock=lambda: existing.start_time)
        return CloseResult(SessionView(existing, _name_of(existing.project_id)), False)
    view = _closed_view(session)
    _emit("session.closed", view, now)
    return CloseResult(view, True)


def update_session(caller: Caller, session_id: str,
                   read_body: Callable[[], object]) -> SessionView:
    """Amend a session; setting ``end_time`` on a running one closes it (exactly once).

    The body is read only once the session is found (404 before 400/415).
    """
    session = _own(caller, session_id)  # 404 before any 400, as for the other resources
    found: dict = {}

    def end_time_error(end_time: object) -> str | None:  # start_time never changes
        return schemas.END_BEFORE_START if end_time < session.start_time else None

    data = schemas.validate(schemas.SESSION_UPDATE, read_body(),
                            {"end_time": end_time_error,
                             "project_id": _project_lookup(caller, found)}, partial=True)
    project = found.get("project")
    for _ in range(MAX_PATCH_ATTEMPTS):
        result = _try_update(caller, session, data, project)
        if result is not None:
            return result
        session = _own(caller, session_id)
    raise RuntimeError("session kept changing during PATCH")


def _try_update(caller: Caller, session: Session, data: dict,
                project: Project | None) -> SessionView | None:
    was_running = session.end_time is None
    actions = update_actions(Session, data)
    if not actions:
        return SessionView(session, _name_of(session.project_id))
    if "end_time" in data and was_running:
        actions.append(Session.running_user_id.remove())
    # Still running (so this PATCH is the one that closes it), or still closed: a closed
    # session never reopens, so concurrent PATCHes of a closed session do not conflict.
    unchanged = Session.end_time.does_not_exist() if was_running else Session.end_time.exists()
    try:
        session.update(actions=actions, condition=(Session.user_id == caller.user_id) & unchanged)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        return None  # closed or changed meanwhile: read again and retry
    if session.end_time is None:
        return SessionView(session, project.name if project else _name_of(session.project_id))
    view = _closed_view(session)
    if was_running:
        _emit("session.closed", view, utc_now())
    return view


def delete_session(caller: Caller, session_id: str) -> None:
    session_id = schemas.path_uuid(session_id)
    if session_id is None:
        raise NotFound()
    try:
        Session(session_id).delete(condition=Session.user_id == caller.user_id)
    except Exception as exc:
        if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
            raise NotFound() from exc
        raise
