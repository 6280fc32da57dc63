"""``store.clients`` at its interface: the name-ordered index, updates that never recreate."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from chalicelib.store import clients as store
from chalicelib.store.clients import NAME_KEY_CODE_POINTS, Client
from chalicelib.store.pages import read_all

UTC = timezone.utc
CREATED = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)
ORG, OTHER_ORG = 10, 20


def new_client(name: str = "Acme", organisation_id: int = ORG) -> Client:
    return store.create(organisation_id=organisation_id, name=name, company="Acme Inc.",
                        email="billing@acme.example", hourly_rate="90.00", currency="EUR",
                        created=CREATED)


def names(organisation_id: int = ORG) -> list[str]:
    return [c.name for c in read_all(store.listing(organisation_id))]


def test_create_stores_every_field():
    client = new_client()
    stored = store.get_client(client.id)
    assert (stored.organisation_id, stored.name, stored.company, stored.email, stored.hourly_rate,
            stored.currency, stored.created) == (ORG, "Acme", "Acme Inc.",
                                                 "billing@acme.example", "90.00", "EUR", CREATED)


def test_get_of_an_unknown_id_is_none():
    assert store.get_client(str(uuid.uuid4())) is None


def test_clients_of_lists_by_case_folded_name_then_id_in_one_query(dynamodb_calls):
    for name in ("beta", "Alpha", "ALPHA", "gamma", "Beta"):
        new_client(name)
    new_client("Aardvark", OTHER_ORG)
    dynamodb_calls.clear()
    listed = read_all(store.listing(ORG))
    assert dynamodb_calls.operations == ["Query"]
    assert [c.name.casefold() for c in listed] == ["alpha", "alpha", "beta", "beta", "gamma"]
    alphas = [c.id for c in listed[:2]]
    assert alphas == sorted(alphas)
    assert names(OTHER_ORG) == ["Aardvark"]
    assert read_all(store.listing(30)) == []


def test_renaming_moves_the_client_in_the_list():
    client = new_client("Zeta")
    new_client("Mu")
    assert names() == ["Mu", "Zeta"]
    updated = store.update(client, {"name": "alpha"})
    assert updated.name == "alpha"
    assert names() == ["alpha", "Mu"]
    assert store.get_client(client.id).name_key == Client.sort_key("alpha", client.id)


def test_255_characters_of_any_width_are_ordered_in_full():
    """255 four-byte characters and names alike up to their last one: in name order."""
    shared = "\U0001F600" * 254
    later, earlier = new_client(shared + "b"), new_client(shared + "a")
    assert names() == [shared + "a", shared + "b"]
    assert store.get_client(later.id).name == shared + "b"
    assert len(store.get_client(earlier.id).name_key) <= 1024  # DynamoDB's sort key cap


def test_a_case_folding_past_the_key_is_cut_and_ordered_by_id():
    """Case folding may triple a character ("ﬃ" → "ffi"): past 334 code points the key is
    cut, and names alike up to there are ordered by id."""
    shared = "\ufb03" * 120  # 360 code points once folded
    one, two = new_client(shared + "b"), new_client(shared + "a")
    by_id = sorted([one, two], key=lambda c: c.id)
    assert names() == [c.name for c in by_id]
    assert len(store.get_client(one.id).name_key) == NAME_KEY_CODE_POINTS * 3 + 3 + 16
    assert len(store.get_client(one.id).name_key) <= 1024


def test_update_sets_and_none_removes():
    client = new_client()
    updated = store.update(client, {"hourly_rate": None, "email": "", "company": "Acme plc"})
    assert (updated.hourly_rate, updated.email, updated.company) == (None, "", "Acme plc")
    stored = store.get_client(client.id)
    assert (stored.hourly_rate, stored.email, stored.company, stored.name) == (
        None, "", "Acme plc", "Acme")


def test_update_without_changes_makes_no_call(dynamodb_calls):
    client = new_client()
    dynamodb_calls.clear()
    assert store.update(client, {}) is client
    assert dynamodb_calls.operations == []


def test_update_of_a_vanished_client_is_none_and_does_not_recreate_it():
    client = new_client()
    Client(client.id).delete()  # no store function deletes a client
    assert store.update(client, {"name": "Ghost"}) is None
    assert store.get_client(client.id) is None


def test_update_through_a_copy_claiming_another_organisation_is_none():
    client = new_client()
    forged = store.get_client(client.id)
    forged.organisation_id = OTHER_ORG
    assert store.update(forged, {"name": "Taken"}) is None
    assert store.get_client(client.id).name == "Acme"
