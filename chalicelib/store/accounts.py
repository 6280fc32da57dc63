"""Organisations, users, teams, memberships, API keys and id counters in DynamoDB.

Each API key item also carries a snapshot of what the authorizer needs (plan, email,
organisation, teams), so authorising a request is one GetItem. The operator commands
that change a user, a team or a plan refresh the snapshots of that user's keys.
"""
from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import (BooleanAttribute, NumberAttribute, NumberSetAttribute,
                                 UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.domain.accounts import PRO_PLAN
from chalicelib.store.base import StageTableMeta, StoreError, TableModel, condition_failed


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
    plan = UnicodeAttribute(default=PRO_PLAN)


class Team(TableModel):
    class Meta(metaclass=StageTableMeta):
        table = "teams"

    id = NumberAttribute(hash_key=True)
    organisation_id = NumberAttribute()
    name = UnicodeAttribute()


class Membership(TableModel):
    """A user's membership of a team: a user's teams are one Query."""

    class Meta(metaclass=StageTableMeta):
        table = "memberships"

    user_id = NumberAttribute(hash_key=True)
    team_id = NumberAttribute(range_key=True)


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


def get_organisation(organisation_id: int) -> Organisation | None:
    try:
        return Organisation.get(organisation_id)
    except Organisation.DoesNotExist:
        return None


def get_user(user_id: int) -> User | None:
    try:
        return User.get(user_id)
    except User.DoesNotExist:
        return None


def get_team(team_id: int) -> Team | None:
    try:
        return Team.get(team_id)
    except Team.DoesNotExist:
        return None


def create_organisation(name: str, invoice_prefix: str) -> Organisation:
    organisation = Organisation(next_id("organisation"), name=name, invoice_prefix=invoice_prefix)
    organisation.save()
    return organisation


def create_user(email: str, organisation_id: int | None, plan: str) -> User:
    user = User(next_id("user"), email=email, organisation_id=organisation_id, plan=plan)
    user.save()
    return user


def set_plan(user: User, plan: str) -> User:
    user.update(actions=[User.plan.set(plan)])
    refresh_key_snapshots(user)
    return user


def create_team(organisation_id: int, name: str) -> Team:
    team = Team(next_id("team"), organisation_id=organisation_id, name=name)
    team.save()
    return team


def team_ids_of(user_id: int) -> set[int]:
    return {int(m.team_id) for m in Membership.query(user_id)}


def add_member(team: Team, user: User) -> set[int]:
    """Put the user in the team; returns the user's teams (their keys are refreshed)."""
    Membership(int(user.id), int(team.id)).save()
    return refresh_key_snapshots(user)


def remove_member(team: Team, user: User) -> set[int]:
    Membership(int(user.id), int(team.id)).delete()
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


class KeyIdTaken(StoreError):
    """Another key already has this public id (a new id must be drawn)."""


def create_key(user: User, key_id: str, secret_hash: str, name: str, scope: str,
               created: datetime) -> ApiKey:
    """Store a key (by its public id, with the hash of its secret and the owner snapshot)."""
    key = ApiKey(key_id, secret_hash=secret_hash, user_id=user.id, name=name, scope=scope,
                 created=created, **_snapshot(user))
    try:
        key.save(condition=ApiKey.key_id.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
        raise KeyIdTaken(key_id) from exc
    return key


def keys_of(user_id: int) -> list[ApiKey]:
    return list(ApiKey.by_user.query(user_id))


def load_key(key_id: str) -> ApiKey | None:
    """The key item for the authorizer: one strongly consistent GetItem."""
    try:
        return ApiKey.get(key_id, consistent_read=True)
    except ApiKey.DoesNotExist:
        return None


def revoke_key(key_id: str, at: datetime) -> ApiKey | None:
    """Mark the key revoked (once: the first revocation's time stays); None if unknown."""
    key = ApiKey(key_id)
    try:
        key.update(actions=[ApiKey.revoked.set(True), ApiKey.revoked_at.set(at)],
                   condition=ApiKey.key_id.exists() & (ApiKey.revoked == False))  # noqa: E712
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return load_key(key_id)
    return key
