"""API tokens: ``tk_live_<id>_<secret>``, made from a CSPRNG, stored only as a hash (SPEC section 2).

The secret carries 32 characters of a 36-letter alphabet (about 165 bits), so a plain
SHA-256 is enough: there is nothing to brute-force, and no pepper to lose or rotate.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 8
SECRET_LENGTH = 32
TOKEN_PATTERN = re.compile(r"tk_live_([a-z0-9]{8})_([a-z0-9]{32})")


class InvalidToken(ValueError):
    """The text is not a well-formed token."""


@dataclass(frozen=True)
class IssuedToken:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        return f"tk_live_{self.key_id}_{self.secret}"

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def issue() -> IssuedToken:
    """A fresh key id and secret."""
    return IssuedToken(key_id=_random(ID_LENGTH), secret=_random(SECRET_LENGTH))


def parse(token: str) -> tuple[str, str]:
    """``(key_id, secret)`` of a token, or :class:`InvalidToken`."""
    match = TOKEN_PATTERN.fullmatch(token)
    if match is None:
        raise InvalidToken("malformed token")
    return match.group(1), match.group(2)


def parse_authorization(header: str | None) -> tuple[str, str]:
    """``(key_id, secret)`` from ``Authorization: Bearer <token>`` (scheme case-insensitive)."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("not a bearer token")
    return parse(token.strip())


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
