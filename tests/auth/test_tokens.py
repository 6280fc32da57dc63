"""Token format, uniqueness, parsing and hashing (SPEC section 2)."""
import re

import pytest

from chalicelib.auth import tokens


def test_issued_tokens_have_the_documented_format():
    issued = tokens.issue()
    assert re.fullmatch(r"tk_live_[a-z0-9]{8}_[a-z0-9]{32}", issued.token)
    assert tokens.parse(issued.token) == (issued.key_id, issued.secret)


def test_issued_tokens_are_unique():
    assert len({tokens.issue().token for _ in range(500)}) == 500


def test_hash_is_sha256_of_the_secret_and_verifies_in_constant_time_compare():
    issued = tokens.issue()
    assert re.fullmatch(r"[0-9a-f]{64}", issued.secret_hash)
    assert issued.secret not in issued.secret_hash
    assert tokens.secret_matches(issued.secret, issued.secret_hash)
    other = ("b" if issued.secret[0] == "a" else "a") + issued.secret[1:]
    assert not tokens.secret_matches(other, issued.secret_hash)


@pytest.mark.parametrize("header", [
    "Bearer tk_live_abcd1234_" + "a" * 32,
    "bearer tk_live_abcd1234_" + "a" * 32,
    "BEARER  tk_live_abcd1234_" + "a" * 32,
])
def test_bearer_scheme_is_case_insensitive(header):
    assert tokens.parse_authorization(header) == ("abcd1234", "a" * 32)


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Basic dXNlcjpwYXNz", "Token tk_live_abcd1234_" + "a" * 32,
    "Bearer tk_live_abcd123_" + "a" * 32, "Bearer tk_live_abcd1234_" + "a" * 31,
    "Bearer tk_live_ABCD1234_" + "a" * 32, "Bearer tk_test_abcd1234_" + "a" * 32,
    "Bearer tk_live_abcd1234_" + "a" * 32 + "x",
])
def test_malformed_headers_are_rejected(header):
    with pytest.raises(tokens.InvalidToken):
        tokens.parse_authorization(header)

