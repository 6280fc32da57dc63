"""Clients: shared by the members of one organisation; callers without one see none."""
from __future__ import annotations

from typing import Callable, Mapping

from chalicelib.auth.caller import Caller
from chalicelib.domain import schemas
from chalicelib.domain.accounts import NO_ORGANISATION_FOR_CLIENTS
from chalicelib.domain.money import format_money
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.errors import NotFound, PermissionDenied
from chalicelib.services import listing
from chalicelib.store import clients as store
from chalicelib.store.clients import Client


def get_client(caller: Caller, client_id: str) -> Client:
    checked_id = schemas.path_uuid(client_id)
    client = organisation_client(caller, checked_id) if checked_id else None
    if client is None:
        raise NotFound()
    return client


def organisation_client(caller: Caller, client_id: str) -> Client | None:
    """The client if it belongs to the caller's organisation (for ``client_id`` fields)."""
    client = store.get_client(client_id)
    if client is None or caller.organisation_id is None or \
            int(client.organisation_id) != caller.organisation_id:
        return None
    return client


def list_clients(caller: Caller, query: Mapping[str, str | None]) -> listing.Listed:
    """The organisation's clients by name; none without an organisation."""
    _, page = listing.validated(None, query)
    if caller.organisation_id is None:
        return listing.Listed([])
    return listing.listed("clients", caller, {}, page, store.listing(caller.organisation_id))


def require_organisation(caller: Caller) -> None:
    """403 for a caller without an organisation (before the body is parsed or validated)."""
    if caller.organisation_id is None:
        raise PermissionDenied(NO_ORGANISATION_FOR_CLIENTS)


def create_client(caller: Caller, body: object, clock: Clock = utc_now) -> Client:
    require_organisation(caller)
    data = schemas.CLIENT_CREATE.validate(body)
    return store.create(organisation_id=caller.organisation_id, name=data["name"],
                        company=data["company"], email=data["email"],
                        hourly_rate=format_money(data["hourly_rate"]),
                        currency=data["currency"], created=clock())


def update_client(caller: Caller, client_id: str, read_body: Callable[[], object]) -> Client:
    """PATCH: the body is read only once the client is found (404 before 400/415)."""
    client = get_client(caller, client_id)
    data = schemas.CLIENT_UPDATE.validate(read_body(), partial=True)
    if "hourly_rate" in data:
        data["hourly_rate"] = format_money(data["hourly_rate"])
    updated = store.update(client, data)
    if updated is None:
        raise NotFound()
    return updated
