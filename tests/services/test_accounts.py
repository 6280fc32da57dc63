"""``services.accounts``, the operator's use cases: rules, errors, refusals that write nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.auth import tokens
from chalicelib.domain import fields
from chalicelib.domain.accounts import INVALID_PREFIX
from chalicelib.errors import BadRequest, NotFound
from chalicelib.services import accounts as service
from chalicelib.store import accounts as store
from chalicelib.store import projects as project_store
from chalicelib.store import webhooks as webhook_store
from chalicelib.store.pages import read_all
from tests.services.conftest import NOW, clock, clock_at


@pytest.fixture
def organisation(aws):
    """Dunder Mifflin, organisation 1."""
    return service.create_organisation("Dunder Mifflin")


def new_project(organisation_id: int | None, owner_id: int = 1):
    return project_store.create(owner_id=owner_id, organisation_id=organisation_id, name="Website",
                                is_active=True, currency="USD", hourly_rate=None, client_id=None,
                                created=NOW)


# --- organisations ------------------------------------------------------------------------

def test_invoice_prefix_default_and_explicit(aws):
    cases = [
        ("Dunder Mifflin", None, "DMI"),          # default: initials of two words, then "I"
        ("  Initech  ", None, "II"),
        ("Ørsted Énergie", None, "EI"),            # "Ø" has no ASCII form: no initial
        ("Vance Refrigeration", " vr ", "VR"),     # explicit: trimmed, upper-cased
        ("Vance Refrigeration", "ABCDE12345", "ABCDE12345"),  # at the length limit
    ]
    for name, prefix, expected in cases:
        organisation = service.create_organisation(name, prefix)
        assert (organisation.name, organisation.invoice_prefix) == (name.strip(), expected)
        assert store.get_organisation(organisation.id).invoice_prefix == expected


def test_a_malformed_prefix_is_refused_and_nothing_is_written(aws):
    assert INVALID_PREFIX == "Invoice prefix must be 1-10 letters or digits."
    for prefix in ("", "   ", "DM-I", "DM I", "ÄBC", "ABCDE123456"):
        with pytest.raises(BadRequest) as raised:
            service.create_organisation("Dunder Mifflin", prefix)
        assert raised.value.detail == INVALID_PREFIX, prefix
    assert service.create_organisation("Initech").id == 1  # no refusal took an id either


def test_a_blank_organisation_name_is_refused(aws):
    with pytest.raises(BadRequest) as raised:
        service.create_organisation("   ")
    assert raised.value.detail == "Organisation name may not be blank."
    assert store.get_organisation(1) is None


def test_unknown_organisation_is_not_found_by_its_id(aws):
    with pytest.raises(NotFound) as raised:
        service.get_organisation(42)
    assert raised.value.detail == "Organisation 42 not found."


# --- users --------------------------------------------------------------------------------

def test_create_user_trims_the_email_and_keeps_the_plan(organisation):
    user = service.create_user("  pam@example.com ", organisation.id, "free")
    stored = store.get_user(user.id)
    assert (stored.email, stored.organisation_id, stored.plan) == ("pam@example.com",
                                                                  organisation.id, "free")
    assert service.create_user("solo@example.com").organisation_id is None


def test_the_email_rule_answers_with_drfs_messages(organisation):
    assert (fields.NOT_AN_EMAIL, fields.BLANK) == ("Enter a valid email address.",
                                                   "This field may not be blank.")
    cases = [
        ("pam", fields.NOT_AN_EMAIL),
        ("pam@", fields.NOT_AN_EMAIL),
        ("pam@example", fields.NOT_AN_EMAIL),
        ("pam smith@example.com", fields.NOT_AN_EMAIL),
        ("", fields.BLANK),
        ("   ", fields.BLANK),
        ("a" * 243 + "@example.com", fields.MAX_LENGTH.format(n=254)),  # 255 characters
    ]
    for email, message in cases:
        with pytest.raises(BadRequest) as raised:
            service.create_user(email, organisation.id)
        assert raised.value.detail == message, email
    assert store.get_user(1) is None
    email = "a" * 242 + "@example.com"  # 254 characters: the limit itself
    assert service.create_user(email, organisation.id).email == email


def test_an_unknown_plan_is_refused(organisation):
    for plan in ("gold", "Pro", ""):
        with pytest.raises(BadRequest) as raised:
            service.create_user("pam@example.com", organisation.id, plan)
        assert raised.value.detail == "Plan must be one of pro, free.", plan
    assert store.get_user(1) is None


def test_a_user_of_an_unknown_organisation_is_refused_and_not_written(aws):
    with pytest.raises(NotFound) as raised:
        service.create_user("pam@example.com", 99)
    assert raised.value.detail == "Organisation 99 not found."
    assert store.get_user(1) is None


def test_set_plan_changes_the_plan_on_the_user_and_their_keys(make_account):
    account = make_account(plan="pro")
    service.set_plan(account.user_id, "free")
    assert store.get_user(account.user_id).plan == "free"
    assert store.load_key(account.key_id).plan == "free"


def test_set_plan_refuses_unknown_plans_and_users(make_account):
    account = make_account(plan="pro")
    with pytest.raises(BadRequest) as raised:
        service.set_plan(account.user_id, "enterprise")
    assert raised.value.detail == "Plan must be one of pro, free."
    assert store.load_key(account.key_id).plan == "pro"
    with pytest.raises(NotFound) as raised:
        service.set_plan(77, "free")
    assert raised.value.detail == "User 77 not found."


# --- teams --------------------------------------------------------------------------------

def test_create_team_trims_its_name(organisation):
    team = service.create_team(organisation.id, "  Sales ")
    assert (store.get_team(team.id).name, team.organisation_id) == ("Sales", organisation.id)


def test_create_team_refuses_blank_names_and_unknown_organisations(organisation):
    with pytest.raises(BadRequest) as raised:
        service.create_team(organisation.id, "  ")
    assert raised.value.detail == "Team name may not be blank."
    with pytest.raises(NotFound) as raised:
        service.create_team(99, "Sales")
    assert raised.value.detail == "Organisation 99 not found."
    assert store.get_team(1) is None


def test_add_member_puts_the_user_in_the_team_and_on_their_keys(make_account, organisation):
    account = make_account(organisation_id=organisation.id)
    team = service.create_team(organisation.id, "Sales")
    assert service.add_member(team.id, account.user_id) == {team.id}
    assert store.load_key(account.key_id).team_ids == {team.id}
    assert service.remove_member(team.id, account.user_id) == set()
    assert store.load_key(account.key_id).team_ids is None


@pytest.mark.parametrize("users_organisation", ["Initech", None])
def test_add_member_across_organisations_is_refused_and_writes_nothing(make_account, organisation,
                                                                       users_organisation):
    account = make_account(users_organisation, email="peter@initech.example")
    team = service.create_team(organisation.id, "Sales")
    with pytest.raises(BadRequest) as raised:
        service.add_member(team.id, account.user_id)
    assert raised.value.detail == (
        f"User {account.user_id} is not in team {team.id}'s organisation.")
    assert store.team_ids_of(account.user_id) == set()
    assert store.load_key(account.key_id).team_ids is None


def test_membership_changes_name_the_unknown_id(make_account, organisation):
    account = make_account(organisation_id=organisation.id)
    team = service.create_team(organisation.id, "Sales")
    for change in (service.add_member, service.remove_member):
        with pytest.raises(NotFound) as raised:
            change(99, account.user_id)
        assert raised.value.detail == "Team 99 not found."
        with pytest.raises(NotFound) as raised:
            change(team.id, 98)
        assert raised.value.detail == "User 98 not found."
    assert store.team_ids_of(account.user_id) == set()


# --- projects and teams -------------------------------------------------------------------

def test_assign_project_makes_it_a_team_project_and_back(organisation):
    team = service.create_team(organisation.id, "Sales")
    project = new_project(organisation.id)
    assert service.assign_project(project.id, team.id).team_id == team.id
    assert project_store.get_project(project.id).team_id == team.id
    assert service.assign_project(project.id, None).team_id is None
    assert project_store.get_project(project.id).team_id is None


def test_assign_project_across_organisations_is_refused_and_writes_nothing(organisation):
    other = service.create_organisation("Initech")
    foreign_team = service.create_team(other.id, "Sales")
    project = new_project(organisation.id)
    personal = new_project(None)
    for target in (project, personal):
        with pytest.raises(BadRequest) as raised:
            service.assign_project(target.id, foreign_team.id)
        assert raised.value.detail == (
            f"Team {foreign_team.id} is not in project {target.id}'s organisation.")
        assert project_store.get_project(target.id).team_id is None


def test_assign_project_names_the_unknown_id(organisation):
    team = service.create_team(organisation.id, "Sales")
    project = new_project(organisation.id)
    with pytest.raises(NotFound) as raised:
        service.assign_project("no-such-project", team.id)
    assert raised.value.detail == "Project no-such-project not found."
    with pytest.raises(NotFound) as raised:
        service.assign_project(project.id, 99)
    assert raised.value.detail == "Team 99 not found."
    assert project_store.get_project(project.id).team_id is None


# --- keys ---------------------------------------------------------------------------------

def test_create_key_returns_a_token_whose_secret_is_not_stored(make_account):
    account = make_account()
    key, token = service.create_key(account.user_id, "  Zapier ", "read", clock=clock)
    key_id, secret = tokens.parse(token)
    stored = store.load_key(key_id)
    assert (key.key_id, stored.name, stored.scope, stored.created) == (
        key_id, "Zapier", "read", NOW)
    assert tokens.secret_matches(secret, stored.secret_hash)
    raw = repr(stored.serialize())
    assert secret not in raw and token not in raw


def test_create_key_refuses_other_scopes(make_account):
    account = make_account()
    for scope in ("admin", "Write", ""):
        with pytest.raises(BadRequest) as raised:
            service.create_key(account.user_id, "Zapier", scope)
        assert raised.value.detail == "Scope must be one of read, write.", scope
    assert [k.key_id for k in store.keys_of(account.user_id)] == [account.key_id]


def test_create_key_refuses_blank_names_and_unknown_users(make_account):
    account = make_account()
    with pytest.raises(BadRequest) as raised:
        service.create_key(account.user_id, " ", "write")
    assert raised.value.detail == "Key name may not be blank."
    with pytest.raises(NotFound) as raised:
        service.create_key(99, "Zapier", "write")
    assert raised.value.detail == "User 99 not found."
    assert [k.key_id for k in store.keys_of(account.user_id)] == [account.key_id]


def test_list_keys_of_an_unknown_user_is_not_found(aws):
    with pytest.raises(NotFound) as raised:
        service.list_keys(5)
    assert raised.value.detail == "User 5 not found."


def subscribe(account, event: str = "invoice.paid"):
    return webhook_store.create(key_id=account.key_id, user_id=account.user_id,
                                organisation_id=account.organisation_id, event=event,
                                target_url="https://hooks.example.com/in", secret="s" * 64,
                                created_at=NOW)


def test_revoke_key_deletes_that_keys_subscriptions_only(make_account):
    account = make_account()
    colleague = make_account(organisation_id=account.organisation_id, email="jim@example.com")
    subscribe(account)
    subscribe(account, "session.closed")
    kept = subscribe(colleague)

    revoked = service.revoke_key(account.key_id, clock=clock)
    assert (revoked.revoked, revoked.revoked_at) == (True, NOW)
    assert read_all(webhook_store.listing(account.key_id)) == []
    assert [s.id for s in read_all(webhook_store.listing(colleague.key_id))] == [kept.id]
    assert store.load_key(colleague.key_id).revoked is False


def test_revoking_again_keeps_the_first_time(make_account):
    account = make_account()
    service.revoke_key(account.key_id, clock=clock)
    again = service.revoke_key(account.key_id, clock=clock_at(NOW + timedelta(days=3)))
    assert again.revoked_at == NOW
    assert store.load_key(account.key_id).revoked_at == NOW


def test_revoke_of_an_unknown_key_names_it(aws):
    with pytest.raises(NotFound) as raised:
        service.revoke_key("nope1234")
    assert raised.value.detail == "API key nope1234 not found."


def test_a_key_id_that_is_taken_is_drawn_again(aws, monkeypatch):
    organisation = service.create_organisation("Acme")
    user = service.create_user("a@example.com", int(organisation.id))
    first, _ = service.create_key(int(user.id), "First", "write")
    drawn = [tokens.IssuedToken(first.key_id, "a" * 32), tokens.IssuedToken("zzzzzzzz", "b" * 32)]
    monkeypatch.setattr(tokens, "issue", lambda: drawn.pop(0))
    second, token = service.create_key(int(user.id), "Second", "read")
    assert second.key_id == "zzzzzzzz" and token == f"tk_live_zzzzzzzz_{'b' * 32}"
    assert sorted(k.name for k in service.list_keys(int(user.id))) == ["First", "Second"]
