"""``store.accounts`` at its interface: id counters, memberships, key snapshots, revocation."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.auth import tokens
from chalicelib.store import accounts as store
from chalicelib.store.accounts import ApiKey, User

UTC = timezone.utc
CREATED = datetime(2026, 6, 26, 9, 0, tzinfo=UTC)


def key_for(user: User, *, name: str = "Zapier", scope: str = "write") -> ApiKey:
    issued = tokens.issue()
    return store.create_key(user, issued.key_id, issued.secret_hash, name, scope, CREATED)


def test_next_id_counts_each_counter_from_one():
    assert [store.next_id("user") for _ in range(3)] == [1, 2, 3]
    assert store.next_id("team") == 1


def test_concurrent_next_ids_are_unique_and_gapless(all_at_once):
    ids = all_at_once([lambda: store.next_id("user")] * 20)
    assert sorted(ids) == list(range(1, 21))


def test_organisations_users_and_teams_round_trip():
    organisation = store.create_organisation("Dunder Mifflin", "DMI")
    user = store.create_user("pam@example.com", organisation.id, "free")
    team = store.create_team(organisation.id, "Sales")
    assert (store.get_organisation(organisation.id).name,
            store.get_organisation(organisation.id).invoice_prefix) == ("Dunder Mifflin", "DMI")
    stored = store.get_user(user.id)
    assert (stored.email, stored.organisation_id, stored.plan) == ("pam@example.com",
                                                                  organisation.id, "free")
    assert (store.get_team(team.id).name, store.get_team(team.id).organisation_id) == (
        "Sales", organisation.id)


def test_unknown_ids_are_none():
    assert store.get_organisation(99) is None
    assert store.get_user(99) is None
    assert store.get_team(99) is None
    assert store.load_key("nope1234") is None


def test_create_key_stores_the_hash_and_a_snapshot_of_the_owner():
    organisation = store.create_organisation("Dunder Mifflin", "DMI")
    user = store.create_user("pam@example.com", organisation.id, "pro")
    issued = tokens.issue()
    store.create_key(user, issued.key_id, issued.secret_hash, "Zapier", "read", CREATED)
    key = store.load_key(issued.key_id)
    assert tokens.secret_matches(issued.secret, key.secret_hash)
    assert (key.user_id, key.name, key.scope, key.created, key.revoked, key.revoked_at) == (
        user.id, "Zapier", "read", CREATED, False, None)
    assert (key.email, key.plan, key.organisation_id, key.organisation_name, key.team_ids) == (
        "pam@example.com", "pro", organisation.id, "Dunder Mifflin", None)


def test_a_key_of_a_user_without_organisation_has_no_organisation_in_its_snapshot():
    key = key_for(store.create_user("solo@example.com", None, "pro"))
    stored = store.load_key(key.key_id)
    assert (stored.organisation_id, stored.organisation_name) == (None, None)


def test_memberships_refresh_every_key_of_the_user():
    organisation = store.create_organisation("Dunder Mifflin", "DMI")
    user = store.create_user("pam@example.com", organisation.id, "pro")
    other = store.create_user("jim@example.com", organisation.id, "pro")
    keys = [key_for(user, name=n) for n in ("A", "B")]
    others_key = key_for(other)
    sales, warehouse = (store.create_team(organisation.id, n) for n in ("Sales", "Warehouse"))

    assert store.add_member(sales, user) == {sales.id}
    assert store.add_member(warehouse, user) == {sales.id, warehouse.id}
    assert store.team_ids_of(user.id) == {sales.id, warehouse.id}
    assert [store.load_key(k.key_id).team_ids for k in keys] == [{sales.id, warehouse.id}] * 2
    assert store.load_key(others_key.key_id).team_ids is None

    assert store.remove_member(sales, user) == {warehouse.id}
    assert store.remove_member(warehouse, user) == set()
    assert [store.load_key(k.key_id).team_ids for k in keys] == [None, None]
    assert store.team_ids_of(user.id) == set()


def test_set_plan_refreshes_the_users_keys():
    user = store.create_user("pam@example.com", None, "pro")
    key = key_for(user)
    assert store.set_plan(user, "free").plan == "free"
    assert store.get_user(user.id).plan == "free"
    assert store.load_key(key.key_id).plan == "free"


def test_keys_of_lists_the_users_keys_only():
    user = store.create_user("pam@example.com", None, "pro")
    mine = {key_for(user, name=n).key_id for n in ("A", "B")}
    key_for(store.create_user("jim@example.com", None, "pro"))
    assert {k.key_id for k in store.keys_of(user.id)} == mine
    assert store.keys_of(99) == []


def test_revoke_key_marks_it_revoked_at_the_time_given():
    key = key_for(store.create_user("pam@example.com", None, "pro"))
    revoked = store.revoke_key(key.key_id, CREATED + timedelta(days=1))
    assert (revoked.revoked, revoked.revoked_at) == (True, CREATED + timedelta(days=1))
    stored = store.load_key(key.key_id)
    assert (stored.revoked, stored.revoked_at, stored.name) == (
        True, CREATED + timedelta(days=1), "Zapier")


def test_revoking_twice_keeps_the_first_time():
    key = key_for(store.create_user("pam@example.com", None, "pro"))
    store.revoke_key(key.key_id, CREATED + timedelta(days=1))
    again = store.revoke_key(key.key_id, CREATED + timedelta(days=9))
    assert (again.revoked, again.revoked_at) == (True, CREATED + timedelta(days=1))
    assert store.load_key(key.key_id).revoked_at == CREATED + timedelta(days=1)


def test_revoke_of_an_unknown_key_is_none_and_creates_nothing():
    assert store.revoke_key("nope1234", CREATED) is None
    assert store.load_key("nope1234") is None


def test_concurrent_revocations_agree_on_one_time(all_at_once):
    key = key_for(store.create_user("pam@example.com", None, "pro"))
    times = [CREATED + timedelta(minutes=m) for m in range(20)]
    results = all_at_once([lambda t=t: store.revoke_key(key.key_id, t) for t in times])
    first = store.load_key(key.key_id).revoked_at
    assert first in times
    assert [r.revoked_at for r in results] == [first] * 20
