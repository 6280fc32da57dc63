"""Organisations, users, teams, memberships, API keys and id counters in DynamoDB.

Each API key item also carries a snapshot of what the authorizer needs (plan, email,
organisation, teams), so authorising a request is one GetItem. The operator commands
that change a user, a team or a plan refresh the snapshots of that user's keys.
"""
from __future__ import annotations

from datetime import datetime
from pynamodb.attributes import (BooleanAttribute, NumberAttribute, NumberSetAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.auth import tokens
from chalicelib.domain import accounts as rules
from chalicelib.domain.timestamps import utc_now
from chalicelib.errors import BadRequest, NotFound
from chalicelib.store.base import StageTableMeta, TableModel


class Counter(TableModel):
    """Monotonic counters for integer ids and invoice sequences."""

    class Meta(metaclass=StageTableMeta):
        table = "counters"

    name = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


class Organisation(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "organisations"

    id = NumberAttribute(hash_key=True)
    name = UnicodeAttribute()
    invoice_prefix = UnicodeAttribute()


class User(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "users"

    id = NumberAttribute(hash_key=True)
    email = UnicodeAttribute()
    organisation_id = NumberAttribute(null=True)
    plan = UnicodeAttribute(default="pro")


class Team(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "teams"

    id = NumberAttribute(hash_key=True)
    organisation_id = NumberAttribute()
    name = UnicodeAttribute()


class _MembersByTeam(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_team"
        projection = KeysOnlyProjection()

    team_id = NumberAttribute(hash_key=True)
    user_id = NumberAttribute(range_key=True)


class Membership(TableModel):
    """A user's membership of a team: a user's teams, or a team's members, are one Query."""

    class Meta(metaclass=StageTableMeta):
        table = "memberships"

    user_id = NumberAttribute(hash_key=True)
    team_id = NumberAttribute(range_key=True)

    by_team = _MembersByTeam()


class KeysByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = NumberAttribute(hash_key=True)
    created = UTCDateTimeAttribute(range_key=True)


class ApiKey(TableModel):
    """An API key by its public id, with the owner snapshot the authorizer returns."""

    class Meta(metaclass=StageTableMeta):
        table = "api_keys"

    key_id = UnicodeAttribute(hash_key=True)
    secret_hash = UnicodeAttribute()
    user_id = NumberAttribute()
    name = UnicodeAttribute()
    scope = UnicodeAttribute()
    created = UTCDateTimeAttribute()
    revoked = BooleanAttribute(default=False)
    revoked_at = UTCDateTimeAttribute(null=True)
    # snapshot of the owner, refreshed by the operator commands
    email = UnicodeAttribute()
    plan = UnicodeAttribute()
    organisation_id = NumberAttribute(null=True)
    organisation_name = UnicodeAttribute(null=True)
    team_ids = NumberSetAttribute(null=True)

    by_user = KeysByUser()

    def describe(self) -> dict:
        return {
            "key_id": self.key_id,
            "user_id": int(self.user_id),
            "name": self.name,
            "scope": self.scope,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "revoked": bool(self.revoked),
        }


MODELS = (Counter, Organisation, User, Team, Membership, ApiKey)


def next_id(counter: str) -> int:
    """The next value of a counter (1, 2, ...), atomically."""
    item = Counter(counter)
    item.update(actions=[Counter.value.add(1)])
    return int(item.value)


def get_organisation(organisation_id: int) -> Organisation:
    try:
        return Organisation.get(organisation_id)
    except Organisation.DoesNotExist as exc:
        raise NotFound(f"Organisation {organisation_id} not found.") from exc


def get_user(user_id: int) -> User:
    try:
        return User.get(user_id)
    except User.DoesNotExist as exc:
        raise NotFound(f"User {user_id} not found.") from exc


def get_team(team_id: int) -> Team:
    try:
        return Team.get(team_id)
    except Team.DoesNotExist as exc:
        raise NotFound(f"Team {team_id} not found.") from exc


def create_organisation(name: str, invoice_prefix: str | None = None) -> Organisation:
    name = name.strip()
    if not name:
        raise BadRequest("Organisation name may not be blank.")
    prefix = (invoice_prefix or rules.default_invoice_prefix(name)).upper()
    if not rules.valid_invoice_prefix(prefix):
        raise BadRequest("Invoice prefix must be 1-10 letters or digits.")
    organisation = Organisation(next_id("organisation"), name=name, invoice_prefix=prefix)
    organisation.save()
    return organisation


def create_user(email: str, organisation_id: int | None = None, plan: str = "pro") -> User:
    if plan not in rules.PLANS:
        raise BadRequest(f"Plan must be one of {', '.join(rules.PLANS)}.")
    if "@" not in email:
        raise BadRequest("Enter a valid email address.")
    if organisation_id is not None:
        get_organisation(organisation_id)
    user = User(next_id("user"), email=email.strip(), organisation_id=organisation_id, plan=plan)
    user.save()
    return user


def set_plan(user_id: int, plan: str) -> User:
    if plan not in rules.PLANS:
        raise BadRequest(f"Plan must be one of {', '.join(rules.PLANS)}.")
    user = get_user(user_id)
    user.update(actions=[User.plan.set(plan)])
    refresh_key_snapshots(user)
    return user


def create_team(organisation_id: int, name: str) -> Team:
    get_organisation(organisation_id)
    if not name.strip():
        raise BadRequest("Team name may not be blank.")
    team = Team(next_id("team"), organisation_id=organisation_id, name=name.strip())
    team.save()
    return team


def team_ids_of(user_id: int) -> set[int]:
    return {int(m.team_id) for m in Membership.query(user_id)}


def members_of(team_id: int) -> set[int]:
    return {int(m.user_id) for m in Membership.by_team.query(team_id)}


def add_member(team_id: int, user_id: int) -> set[int]:
    team, user = get_team(team_id), get_user(user_id)
    if user.organisation_id != team.organisation_id:
        raise BadRequest(f"User {user_id} is not in team {team_id}'s organisation.")
    Membership(user_id, team_id).save()
    return refresh_key_snapshots(user)


def remove_member(team_id: int, user_id: int) -> set[int]:
    get_team(team_id)
    user = get_user(user_id)
    Membership(user_id, team_id).delete()
    return refresh_key_snapshots(user)


def _snapshot(user: User) -> dict:
    organisation = get_organisation(user.organisation_id) if user.organisation_id else None
    teams = team_ids_of(user.id)
    return {
        "email": user.email,
        "plan": user.plan,
        "organisation_id": organisation.id if organisation else None,
        "organisation_name": organisation.name if organisation else None,
        "team_ids": teams or None,
    }


def refresh_key_snapshots(user: User) -> set[int]:
    """Copy the user's current plan, organisation and teams onto each of their keys."""
    snapshot = _snapshot(user)
    for key in ApiKey.by_user.query(user.id):
        key.update(actions=[getattr(ApiKey, name).set(value) if value is not None
                            else getattr(ApiKey, name).remove()
                            for name, value in snapshot.items()])
    return snapshot["team_ids"] or set()


def create_key(user_id: int, name: str, scope: str) -> tuple[ApiKey, str]:
    """A new key for the user and its token (shown once, never stored)."""
    if scope not in rules.SCOPES:
        raise BadRequest(f"Scope must be one of {', '.join(rules.SCOPES)}.")
    if not name.strip():
        raise BadRequest("Key name may not be blank.")
    user = get_user(user_id)
    issued = tokens.issue()
    key = ApiKey(issued.key_id, secret_hash=issued.secret_hash, user_id=user.id,
                 name=name.strip(), scope=scope, created=utc_now(), **_snapshot(user))
    key.save(condition=ApiKey.key_id.does_not_exist())
    return key, issued.token


def list_keys(user_id: int) -> list[ApiKey]:
    get_user(user_id)
    return list(ApiKey.by_user.query(user_id))


def load_key(key_id: str) -> ApiKey | None:
    """The key item for the authorizer: one strongly consistent GetItem."""
    try:
        return ApiKey.get(key_id, consistent_read=True)
    except ApiKey.DoesNotExist:
        return None


def revoke_key(key_id: str, now: datetime | None = None) -> ApiKey:
    key = load_key(key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found.")
    if not key.revoked:
        key.update(actions=[ApiKey.revoked.set(True), ApiKey.revoked_at.set(now or utc_now())])
    # The reference: a revoked key's subscriptions go too. Imported here so that the
    # authorizer, which loads this module on every cold start, doesn't load that model.
    from chalicelib.store.webhooks import delete_subscriptions_of_key
    delete_subscriptions_of_key(key_id)
    return key
