"""``/clients/``: the organisation's clients."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint, list_response
from chalicelib.lazy import LazyModule

service = LazyModule("chalicelib.services.clients")  # loaded by the first request that needs it

clients = Blueprint(__name__)


def client_json(client) -> dict:
    return {
        "id": client.id,
        "name": client.name,
        "company": client.company,
        "email": client.email,
        "hourly_rate": client.hourly_rate,
        "currency": client.currency,
    }


@endpoint(clients, "/clients")
def list_clients(request: ApiRequest):
    return list_response(request, service.list_clients(request.caller, request.queries()),
                         client_json)


@endpoint(clients, "/clients", ("POST",), status_code=201)
def create_client(request: ApiRequest) -> dict:
    caller = request.caller
    service.require_organisation(caller)  # 403 even when the body is not valid JSON
    return client_json(service.create_client(caller, request.json()))


@endpoint(clients, "/clients/{client_id}")
def get_client(request: ApiRequest, client_id: str) -> dict:
    return client_json(service.get_client(request.caller, client_id))


@endpoint(clients, "/clients/{client_id}", ("PATCH",))
def update_client(request: ApiRequest, client_id: str) -> dict:
    return client_json(service.update_client(request.caller, client_id, request.json))
