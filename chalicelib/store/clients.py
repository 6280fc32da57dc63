"""Clients in DynamoDB: one organisation's, listed in name order from an index.

The index's sort key (``name_key``, kept in step with ``name`` by every write here) is
the case-folded name, then the id, so the list's order is exactly the index's. It is
binary, three bytes a code point (DynamoDB compares binary keys byte by byte, so this
is code-point order, as Python compares strings): 255 characters of any kind fit in a
sort key's 1,024 bytes, where UTF-8 would need up to 1,020 for the name alone. Only a
name whose case folding passes 334 code points (it can triple a few characters) is cut
there, and such names are then ordered by id.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from pynamodb.attributes import (BinaryAttribute, NumberAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.exceptions import UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store import pages
from chalicelib.store.base import StageTableMeta, TableModel, condition_failed, update_actions

# DynamoDB caps a sort key at 1,024 bytes: the name's code points, 3 bytes each, then a
# separator below any of them (names hold no NUL) and the id's 16 bytes.
NAME_KEY_CODE_POINTS = 334
_SEPARATOR = b"\x00\x00\x00"


class _ClientsByOrganisation(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_organisation"
        projection = AllProjection()

    organisation_id = NumberAttribute(hash_key=True)
    name_key = BinaryAttribute(range_key=True, legacy_encoding=False)


class Client(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "clients"

    id = UnicodeAttribute(hash_key=True)
    organisation_id = NumberAttribute()
    name = UnicodeAttribute()
    name_key = BinaryAttribute(legacy_encoding=False)  # case-folded name + id: the order
    company = UnicodeAttribute(default="")
    email = UnicodeAttribute(default="")
    hourly_rate = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(default="USD")
    created = UTCDateTimeAttribute()

    by_organisation = _ClientsByOrganisation()

    @staticmethod
    def sort_key(name: str, client_id: str) -> bytes:
        """The case-folded name's code points (3 bytes each, at most
        :data:`NAME_KEY_CODE_POINTS`), then the id."""
        folded = name.casefold()[:NAME_KEY_CODE_POINTS]
        return (b"".join(ord(ch).to_bytes(3, "big") for ch in folded) + _SEPARATOR
                + uuid.UUID(client_id).bytes)


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
