"""``/sessions/``: the caller's tracked time, and closing a running session."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint, json_response, list_response
from chalicelib.domain.timestamps import format_utc
from chalicelib.lazy import LazyModule

service = LazyModule("chalicelib.services.sessions")  # loaded by the first request that needs it
rules = LazyModule("chalicelib.domain.schemas")  # the service loads it too; not at cold start

sessions = Blueprint(__name__)


def session_json(view) -> dict:
    session = view.session
    return {
        "id": session.id,
        "project_id": session.project_id,
        "project_name": view.project_name,
        "start_time": format_utc(session.start_time),
        "end_time": format_utc(session.end_time),
        "description": session.description,
        "started_via": session.started_via,
        "is_active": session.is_active,
        "total_seconds": session.total_seconds,
    }


@endpoint(sessions, "/sessions")
def list_sessions(request: ApiRequest):
    query = request.queries("active", "project_id", "started_after", "started_before")
    return list_response(request, service.list_sessions(request.caller, query), session_json)


@endpoint(sessions, "/sessions", ("POST",), status_code=201)
def create_session(request: ApiRequest) -> dict:
    return session_json(service.create_session(request.caller, request.json()))


@endpoint(sessions, "/sessions/{session_id}")
def get_session(request: ApiRequest, session_id: str) -> dict:
    return session_json(service.get_session(request.caller, session_id))


@endpoint(sessions, "/sessions/{session_id}", ("PATCH",))
def update_session(request: ApiRequest, session_id: str) -> dict:
    return session_json(service.update_session(request.caller, session_id, request.json))


@endpoint(sessions, "/sessions/{session_id}", ("DELETE",), status_code=204)
def delete_session(request: ApiRequest, session_id: str):
    service.delete_session(request.caller, session_id)
    return json_response(None, 204)


@endpoint(sessions, "/sessions/{session_id}/close", ("POST",))
def close_session(request: ApiRequest, session_id: str) -> dict:
    result = service.close_session(request.caller, session_id)
    if result.closed_now:
        return session_json(result.view)
    return {"detail": rules.SESSION_ALREADY_CLOSED, "session": session_json(result.view)}
