"""Clients: shared by the members of one organisation; callers without one see none."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.domain.money import format_money
from chalicelib.errors import NotFound, PermissionDenied
from chalicelib.store import projects as store
from chalicelib.store.base import update_actions
from chalicelib.store.projects import Client

NO_ORGANISATION = "You must belong to an organisation to manage clients."


def get_client(caller: Caller, client_id: str) -> Client:
    client_id = schemas.path_uuid(client_id)
    client = store.get_client(client_id) if client_id else None
    if client is None or caller.organisation_id is None or \
            int(client.organisation_id) != caller.organisation_id:
        raise NotFound()
    return client


def list_clients(caller: Caller) -> list[Client]:
    if caller.organisation_id is None:
        return []
    clients = store.clients_of(caller.organisation_id)
    return sorted(clients, key=lambda c: (c.name.casefold(), c.id))


def require_organisation(caller: Caller) -> None:
    """403 for a caller without an organisation (before the body is parsed or validated)."""
    if caller.organisation_id is None:
        raise PermissionDenied(NO_ORGANISATION)


def create_client(caller: Caller, body: object) -> Client:
    require_organisation(caller)
    data = schemas.CLIENT_CREATE.validate(body)
    client_id = str(uuid.uuid4())
    client = Client(client_id, organisation_id=caller.organisation_id, name=data["name"],
                    name_key=Client.sort_key(data["name"], client_id), company=data["company"],
                    email=data["email"], hourly_rate=format_money(data["hourly_rate"]),
                    currency=data["currency"], created=datetime.now(timezone.utc))
    client.save(condition=Client.id.does_not_exist())
    return client


def update_client(caller: Caller, client_id: str, read_body: Callable[[], object]) -> Client:
    """PATCH: the body is read only once the client is found (404 before 400/415)."""
    client = get_client(caller, client_id)
    data = schemas.CLIENT_UPDATE.validate(read_body(), partial=True)
    if "hourly_rate" in data:
        data["hourly_rate"] = format_money(data["hourly_rate"])
    if "name" in data:
        data["name_key"] = Client.sort_key(data["name"], client.id)
    actions = update_actions(Client, data)
    if actions:
        client.update(actions=actions,
                      condition=Client.organisation_id == caller.organisation_id)
    return client
