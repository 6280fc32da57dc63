"""The services' callers: what the authorizer would hand each service for an account's key."""
from __future__ import annotations

import pytest

from chalicelib.auth.caller import Caller


def caller_of(account, team_ids=()) -> Caller:
    """The Caller the authorizer would build for this account's key."""
    return Caller(user_id=account.user_id, email="user@example.com",
                  organisation_id=account.organisation_id, organisation_name=None,
                  team_ids=frozenset(team_ids), key_id=account.key_id, key_name="Test key",
                  scope="write")


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
