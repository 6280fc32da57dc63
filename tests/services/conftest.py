"""What every service test shares: the authorizer's callers, a fixed clock, a body never read."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import pytest

from chalicelib.auth.caller import Caller

UTC = timezone.utc
# a fraction of a second, so a service that truncates its clock's time shows it
NOW = datetime(2026, 6, 26, 9, 30, 15, 750000, tzinfo=UTC)


def clock_at(moment: datetime) -> Callable[[], datetime]:
    """A clock that always answers ``moment`` (the services take their time from a clock)."""
    return lambda: moment


clock = clock_at(NOW)


def unread():
    """A body that must not be read: a refusal comes before the body is looked at."""
    raise AssertionError("the body was read before the record was found")


def caller_of(account, team_ids=(), key_id: str | None = None) -> Caller:
    """The Caller the authorizer would build for this account's key (or another of its keys)."""
    return Caller(user_id=account.user_id, email="user@example.com",
                  organisation_id=account.organisation_id, organisation_name=None,
                  team_ids=frozenset(team_ids), key_id=key_id or account.key_id,
                  key_name="Test key", scope="write")


@pytest.fixture
def caller(account) -> Caller:
    """The default account's caller (Dunder Mifflin, prefix DMI)."""
    return caller_of(account)


@pytest.fixture
def stranger(make_account) -> Caller:
    """A user of another organisation."""
    return caller_of(make_account("Initech", email="peter@initech.example"))


@pytest.fixture
def solo(make_account) -> Caller:
    """A user without an organisation."""
    return caller_of(make_account(None, email="solo@example.com"))
