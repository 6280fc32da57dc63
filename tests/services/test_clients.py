"""``services.clients`` with a fixed clock: one organisation's clients, and the errors raised."""
from __future__ import annotations

import uuid

import pytest

from chalicelib.domain import fields
from chalicelib.domain.accounts import NO_ORGANISATION_FOR_CLIENTS
from chalicelib.errors import NotFound, PermissionDenied, ValidationError
from chalicelib.services import clients as service
from chalicelib.store import clients as store
from tests.services.conftest import NOW, caller_of, clock, unread


def test_create_client_stamps_the_clocks_time(caller):
    client = service.create_client(caller, {"name": "Acme", "hourly_rate": "90",
                                            "currency": "eur", "email": " billing@acme.example"},
                                   clock=clock)
    stored = store.get_client(client.id)
    assert (stored.created, stored.organisation_id, stored.name, stored.hourly_rate,
            stored.currency, stored.email, stored.company) == (
        NOW, caller.organisation_id, "Acme", "90.00", "EUR", "billing@acme.example", "")


def test_create_client_reports_every_bad_field(caller):
    with pytest.raises(ValidationError) as raised:
        service.create_client(caller, {"email": "billing@", "hourly_rate": "-1"}, clock=clock)
    assert raised.value.errors == {"name": [fields.REQUIRED], "email": [fields.NOT_AN_EMAIL],
                                   "hourly_rate": [fields.MIN_VALUE.format(n=0)]}
    assert service.list_clients(caller, {}).items == []


def test_a_caller_without_organisation_is_denied_before_the_body_is_checked(solo):
    for body in ({"name": "Acme"}, {"name": ""}, "not a dict"):
        with pytest.raises(PermissionDenied) as raised:
            service.create_client(solo, body, clock=clock)
        assert raised.value.detail == NO_ORGANISATION_FOR_CLIENTS
    assert service.list_clients(solo, {}).items == []


def test_clients_are_the_organisations(caller, stranger, make_account):
    client = service.create_client(caller, {"name": "Acme"}, clock=clock)
    colleague = caller_of(make_account(organisation_id=caller.organisation_id,
                                       email="jim@example.com"))
    assert service.get_client(colleague, client.id).id == client.id
    for client_id in (client.id, "not-a-uuid", str(uuid.uuid4())):
        with pytest.raises(NotFound):
            service.get_client(stranger, client_id)
    assert service.organisation_client(stranger, client.id) is None
    assert service.list_clients(stranger, {}).items == []


def test_a_caller_without_organisation_sees_no_client(caller, solo):
    client = service.create_client(caller, {"name": "Acme"}, clock=clock)
    with pytest.raises(NotFound):
        service.get_client(solo, client.id)
    assert service.organisation_client(solo, client.id) is None


def test_list_clients_by_name(caller):
    for name in ("beta", "Alpha", "gamma"):
        service.create_client(caller, {"name": name}, clock=clock)
    assert [c.name for c in service.list_clients(caller, {}).items] == ["Alpha", "beta", "gamma"]


def test_update_client_renames_and_formats_money(caller):
    client = service.create_client(caller, {"name": "Acme"}, clock=clock)
    updated = service.update_client(caller, client.id, lambda: {"name": "Acme plc",
                                                                "hourly_rate": 100})
    assert (updated.name, updated.hourly_rate) == ("Acme plc", "100.00")
    stored = store.get_client(client.id)
    assert (stored.name, stored.hourly_rate, stored.created) == ("Acme plc", "100.00", NOW)


def test_update_client_checks_the_body(caller):
    client = service.create_client(caller, {"name": "Acme"}, clock=clock)
    with pytest.raises(ValidationError) as raised:
        service.update_client(caller, client.id, lambda: {"name": " ", "currency": "EURO"})
    assert raised.value.errors == {"name": [fields.BLANK],
                                   "currency": [fields.INVALID_CHOICE.format(value="EURO")]}
    assert store.get_client(client.id).name == "Acme"


def test_update_of_another_organisations_client_is_not_found_before_the_body_is_read(caller,
                                                                                     stranger):
    client = service.create_client(caller, {"name": "Acme"}, clock=clock)
    with pytest.raises(NotFound):
        service.update_client(stranger, client.id, unread)
