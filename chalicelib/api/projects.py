"""``/projects/``: list, create, retrieve and update projects."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint, list_response
from chalicelib.lazy import LazyModule

service = LazyModule("chalicelib.services.projects")  # loaded by the first request that needs it

projects = Blueprint(__name__)


def project_json(project) -> dict:
    return {
        "id": project.id,
        "name": project.name,
        "is_active": bool(project.is_active),
        "currency": project.currency,
        "hourly_rate": project.hourly_rate,
        "client_id": project.client_id,
    }


@endpoint(projects, "/projects")
def list_projects(request: ApiRequest):
    return list_response(request, service.list_projects(request.caller, request.queries()),
                         project_json)


@endpoint(projects, "/projects", ("POST",), status_code=201)
def create_project(request: ApiRequest) -> dict:
    return project_json(service.create_project(request.caller, request.json()))


@endpoint(projects, "/projects/{project_id}")
def get_project(request: ApiRequest, project_id: str) -> dict:
    return project_json(service.get_project(request.caller, project_id))


@endpoint(projects, "/projects/{project_id}", ("PATCH",))
def update_project(request: ApiRequest, project_id: str) -> dict:
    return project_json(service.update_project(request.caller, project_id, request.json))
