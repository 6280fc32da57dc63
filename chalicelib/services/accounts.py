"""Accounts, teams and keys: the operator's use cases (the CLI and the local stack call these).

The rules live here and in :mod:`chalicelib.domain.accounts` (invoice prefixes, plans,
scopes, the email rule); the store only keeps what they decide. Every command checks
what it refers to before it writes, so a refused command has written nothing.
"""
from __future__ import annotations

from chalicelib.auth import tokens
from chalicelib.domain import accounts as rules
from chalicelib.domain import fields
from chalicelib.domain.timestamps import Clock, utc_now
from chalicelib.errors import BadRequest, NotFound
from chalicelib.store import accounts as store
from chalicelib.store import projects as project_store
from chalicelib.store import webhooks as webhook_store
from chalicelib.store.accounts import ApiKey, Organisation, Team, User
from chalicelib.store.projects import Project

_EMAIL = fields.Email()
KEY_ATTEMPTS = 3


def get_organisation(organisation_id: int) -> Organisation:
    organisation = store.get_organisation(organisation_id)
    if organisation is None:
        raise NotFound(f"Organisation {organisation_id} not found.")
    return organisation


def get_user(user_id: int) -> User:
    user = store.get_user(user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found.")
    return user


def get_team(team_id: int) -> Team:
    team = store.get_team(team_id)
    if team is None:
        raise NotFound(f"Team {team_id} not found.")
    return team


def _choice(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise BadRequest(f"{what} must be one of {', '.join(choices)}.")
    return value


def create_organisation(name: str, invoice_prefix: str | None = None) -> Organisation:
    """A new organisation; its invoice prefix defaults to the name's initials plus "I"."""
    name = name.strip()
    if not name:
        raise BadRequest("Organisation name may not be blank.")
    prefix = rules.default_invoice_prefix(name) if invoice_prefix is None \
        else invoice_prefix.strip().upper()
    if not rules.valid_invoice_prefix(prefix):
        raise BadRequest(rules.INVALID_PREFIX)
    return store.create_organisation(name, prefix)


def create_user(email: str, organisation_id: int | None = None, plan: str = rules.PRO_PLAN) -> User:
    _choice(plan, rules.PLANS, "Plan")
    try:
        email = _EMAIL.clean(email)
    except fields.Invalid as exc:
        raise BadRequest(exc.message) from exc
    if organisation_id is not None:
        get_organisation(organisation_id)
    return store.create_user(email, organisation_id, plan)


def set_plan(user_id: int, plan: str) -> User:
    _choice(plan, rules.PLANS, "Plan")
    return store.set_plan(get_user(user_id), plan)


def create_team(organisation_id: int, name: str) -> Team:
    get_organisation(organisation_id)
    if not name.strip():
        raise BadRequest("Team name may not be blank.")
    return store.create_team(organisation_id, name.strip())


def add_member(team_id: int, user_id: int) -> set[int]:
    """Put a user in a team of their organisation; returns the user's teams."""
    team, user = get_team(team_id), get_user(user_id)
    if user.organisation_id != team.organisation_id:
        raise BadRequest(f"User {user_id} is not in team {team_id}'s organisation.")
    return store.add_member(team, user)


def remove_member(team_id: int, user_id: int) -> set[int]:
    return store.remove_member(get_team(team_id), get_user(user_id))


def assign_project(project_id: str, team_id: int | None) -> Project:
    """Make a project a team project of its organisation (or a personal one again)."""
    project = project_store.get_project(project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found.")
    if team_id is not None:
        team = get_team(team_id)
        if project.organisation_id is None or \
                int(team.organisation_id) != int(project.organisation_id):
            raise BadRequest(f"Team {team_id} is not in project {project_id}'s organisation.")
    updated = project_store.set_team(project, team_id)
    if updated is None:
        raise NotFound(f"Project {project_id} not found.")
    return updated


def create_key(user_id: int, name: str, scope: str,
               clock: Clock = utc_now) -> tuple[ApiKey, str]:
    """A new key for the user and its token (shown once; only the secret's hash is kept)."""
    _choice(scope, rules.SCOPES, "Scope")
    if not name.strip():
        raise BadRequest("Key name may not be blank.")
    user = get_user(user_id)
    for _ in range(KEY_ATTEMPTS):  # 36^8 ids: a clash is rare, two in a row rarer still
        issued = tokens.issue()
        try:
            key = store.create_key(user, issued.key_id, issued.secret_hash, name.strip(), scope,
                                   clock())
        except store.KeyIdTaken:
            continue
        return key, issued.token
    raise RuntimeError(f"{KEY_ATTEMPTS} key ids in a row were taken")


def list_keys(user_id: int) -> list[ApiKey]:
    get_user(user_id)
    return store.keys_of(user_id)


def revoke_key(key_id: str, clock: Clock = utc_now) -> ApiKey:
    """Revoke a key; its webhook subscriptions go with it (the reference)."""
    key = store.revoke_key(key_id, clock())
    if key is None:
        raise NotFound(f"API key {key_id} not found.")
    webhook_store.delete_subscriptions_of_key(key_id)
    return key
