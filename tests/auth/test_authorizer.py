"""The authorizer's policies and context, called directly with stored keys."""
import pytest

from chalicelib.auth import authorizer
from chalicelib.domain import accounts as rules
from chalicelib.services import accounts as operator
from chalicelib.store import accounts

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/GET/api/v1/me"


def test_write_key_is_allowed_every_method_with_the_callers_context(account):
    result = authorizer.authorize(f"Bearer {account.token}", ARN)
    statement, = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abc123/api/*/*"]
    assert result["context"]["user_id"] == str(account.user_id)
    assert result["context"]["organisation_id"] == str(account.organisation_id)
    assert all(isinstance(v, str) for v in result["context"].values())


def test_read_key_is_allowed_safe_methods_only(make_account):
    account = make_account(scope="read")
    result = authorizer.authorize(f"Bearer {account.token}", ARN)
    statement, = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(r.split("/")[2] for r in statement["Resource"]) == ["GET", "HEAD", "OPTIONS"]
    assert result["context"]["detail"] == rules.SCOPE_DENIED


def test_free_plan_gets_an_explicit_deny_with_the_plan_detail(make_account):
    account = make_account(plan="free")
    result = authorizer.authorize(f"Bearer {account.token}", ARN)
    statement, = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert result["context"]["detail"] == rules.PLAN_DENIED


def test_wrong_secret_unknown_and_revoked_keys_are_unauthorized(account):
    key_id = account.key_id
    for header in (f"Bearer tk_live_{key_id}_{'0' * 32}", "Bearer tk_live_zzzzzzzz_" + "0" * 32):
        with pytest.raises(authorizer.Unauthorized, match="^Unauthorized$"):
            authorizer.authorize(header, ARN)
    operator.revoke_key(key_id)
    with pytest.raises(authorizer.Unauthorized):
        authorizer.authorize(f"Bearer {account.token}", ARN)


def test_authorizing_costs_one_lookup(account):
    calls = []

    def lookup(key_id):
        calls.append(key_id)
        return accounts.load_key(key_id)

    authorizer.authorize(f"Bearer {account.token}", ARN, lookup=lookup)
    assert calls == [account.key_id]
