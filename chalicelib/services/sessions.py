"""Sessions: private to their user; starting, logging, closing (exactly once) and amending.

Closing is one conditional write in the store (``end_time`` must not exist yet), so
among concurrent closes exactly one succeeds (and its change is the one
``session.closed`` event of the stream); the others answer with the already-closed shape. Every closed session also records its length
bucket on its project (see :mod:`chalicelib.store.projects`), which is also how the
response learns the project's current name without another read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.domain.timestamps import Clock, to_utc, utc_now
from chalicelib.errors import NotFound
from chalicelib.services import listing
from chalicelib.services.projects import visible_project
from chalicelib.store import projects as project_store
from chalicelib.store import sessions as store
from chalicelib.store.projects import Project
from chalicelib.store.sessions import Session


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


def _closed_view(session: Session) -> SessionView:
    """Record the closed session's length on its project; that write returns the name."""
    project = project_store.record_span(session.project_id, session.total_seconds)
    return SessionView(session, project.name if project else _name_of(session.project_id))


def get_session(caller: Caller, session_id: str) -> SessionView:
    session = _own(caller, session_id)
    return SessionView(session, _name_of(session.project_id))


def list_sessions(caller: Caller, query: Mapping[str, str | None]) -> listing.Listed:
    """The caller's sessions (filters: ``active``, ``project_id``, ``started_after``,
    ``started_before``), complete or a page; each with its project's current name."""
    filters, page = listing.validated(schemas.SESSION_FILTERS, query)
    after, before = filters.get("started_after"), filters.get("started_before")
    if after is not None and before is not None and after >= before:
        return listing.Listed([])  # an empty window
    found = listing.listed("sessions", caller, filters, page,
                           store.listing(caller.user_id, **filters))
    names = project_store.project_names(s.project_id for s in found.items)
    return replace(found, items=[SessionView(s, names.get(s.project_id, ""))
                                 for s in found.items])


def _project_lookup(caller: Caller, found: dict) -> Callable[[object], str | None]:
    """A ``project_id`` lookup for :func:`schemas.validate` that keeps the project in ``found``."""
    def lookup(project_id: object) -> str | None:
        found["project"] = visible_project(caller, str(project_id))
        return None if found["project"] is not None else schemas.PROJECT_NOT_FOUND
    return lookup


def create_session(caller: Caller, body: object, clock: Clock = utc_now) -> SessionView:
    found: dict = {}
    now = to_utc(clock())
    data = schemas.validate(schemas.SESSION_CREATE, body,
                            {"project_id": _project_lookup(caller, found)},
                            defaults={"start_time": now})
    project = found["project"]
    session = store.create(user_id=caller.user_id, project_id=project.id,
                           start_time=data["start_time"], end_time=data["end_time"],
                           description=data["description"], started_via=data["started_via"])
    if session.end_time is not None:
        return _closed_view(session)
    return SessionView(session, project.name)


def close_session(caller: Caller, session_id: str, clock: Clock = utc_now) -> CloseResult:
    """End a running session now; idempotent, and only one concurrent close wins."""
    session_id = schemas.path_uuid(session_id)
    if session_id is None:
        raise NotFound()
    now = to_utc(clock())
    result = store.close(session_id, caller.user_id, now)
    if isinstance(result, store.NotStarted):  # starts in the future: close it at its start
        result = store.close(session_id, caller.user_id, result.session.start_time)
    if isinstance(result, store.Missing):
        raise NotFound()
    if isinstance(result, store.AlreadyClosed):
        session = result.session
        return CloseResult(SessionView(session, _name_of(session.project_id)), False)
    return CloseResult(_closed_view(result.session), True)


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
    project: Project | None = found.get("project")
    # A session changes state once (running to closed) and amendments of one state do not
    # clash, so losing the race once means it closed meanwhile: read it again and apply
    # the changes to the closed session. Losing twice means it was deleted meanwhile.
    for _ in range(2):
        if not data:
            return SessionView(session, _name_of(session.project_id))
        was_running = session.end_time is None
        updated = store.amend(session, data)
        if updated is not None:
            if updated.end_time is None:
                return SessionView(updated, project.name if project
                                   else _name_of(updated.project_id))
            if was_running or "end_time" in data or "project_id" in data:
                return _closed_view(updated)  # its length may be new to its project
            return SessionView(updated, _name_of(updated.project_id))
        session = _own(caller, session_id)  # closed or deleted meanwhile: read again
    raise NotFound()  # deleted after it was read again


def delete_session(caller: Caller, session_id: str) -> None:
    session_id = schemas.path_uuid(session_id)
    if session_id is None or not store.delete(session_id, caller.user_id):
        raise NotFound()
