"""Clients in DynamoDB: one organisation's, listed in name order from an index.

The index's sort key is the case-folded name followed by the id (``name_key``), kept
in step with ``name`` by every write here; the list's order is exactly that key's
(names that share their first 900 bytes, case-folded, are ordered by id).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store import pages
from chalicelib.store.base import StageTableMeta, TableModel, condition_failed, update_actions

# DynamoDB caps a sort key at 1,024 bytes; the name part of ``name_key`` stays below.
NAME_KEY_BYTES = 900


class _ClientsByOrganisation(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_organisation"
        projection = AllProjection()

    organisation_id = NumberAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True)


class Client(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "clients"

    id = UnicodeAttribute(hash_key=True)
    organisation_id = NumberAttribute()
    name = UnicodeAttribute()
    name_key = UnicodeAttribute()  # case-folded name + id: the list's order
    company = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    hourly_rate = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(default="USD")
    created = UTCDateTimeAttribute()

    by_organisation = _ClientsByOrganisation()

    @staticmethod
    def sort_key(name: str, client_id: str) -> str:
        """Case-folded name, then the id; the name is cut at :data:`NAME_KEY_BYTES` UTF-8
        bytes (DynamoDB caps a sort key at 1,024)."""
        folded = name.casefold().encode()[:NAME_KEY_BYTES].decode(errors="ignore")
        return f"{folded}\x00{client_id}"


MODELS = (Client,)


def get_client(client_id: str) -> Client | None:
    try:
        return Client.get(client_id)
    except Client.DoesNotExist:
        return None


def create(*, organisation_id: int, name: str, company: str, email: str,
           hourly_rate: str | None, currency: str, created: datetime) -> Client:
    client_id = str(uuid.uuid4())
    client = Client(client_id, organisation_id=organisation_id, name=name,
                    name_key=Client.sort_key(name, client_id), company=company, email=email,
                    hourly_rate=hourly_rate, currency=currency, created=created)
    client.save(condition=Client.id.does_not_exist())
    return client


def update(client: Client, changes: dict) -> Client | None:
    """Set ``changes`` on a client of its organisation; None when it no longer exists."""
    changes = dict(changes)
    if "name" in changes:
        changes["name_key"] = Client.sort_key(changes["name"], client.id)
    actions = update_actions(Client, changes)
    if not actions:
        return client
    try:
        client.update(actions=actions,
                      condition=Client.organisation_id == int(client.organisation_id))
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return None
    return client


def listing(organisation_id: int) -> pages.Listing:
    """The organisation's clients by name, case-insensitive (ties by id)."""
    return pages.Listing((pages.Source("organisation", Client, Client.by_organisation,
                                       organisation_id),),
                         order=lambda c: c.name_key, descending=False)


def clients_of(organisation_id: int) -> list[Client]:
    return pages.read_all(listing(organisation_id))


def clients_page(organisation_id: int, size: int, positions: dict | None) -> pages.Page:
    return pages.read_page(listing(organisation_id), size, positions)
