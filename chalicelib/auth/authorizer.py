"""The API-key authorizer: token → one GetItem → an IAM policy and the caller's context.

API Gateway runs it before every protected route (TTL 0, so nothing is cached and a
revoked key fails on the next request). It answers in the order SPEC section 2 fixes:
a bad key raises ``Unauthorized`` (API Gateway's 401); a user without Pro gets an
explicit Deny; a read key is allowed only GET, HEAD and OPTIONS. The 403 body comes
from the ``detail`` context value through the ACCESS_DENIED gateway response.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

from chalice import Blueprint
from chalice.app import AuthRequest

from chalicelib import aws
from chalicelib.auth import tokens
from chalicelib.domain import accounts as rules
from chalicelib.lazy import LazyModule

if TYPE_CHECKING:
    from chalicelib.store.accounts import ApiKey

# The API function imports this module for the routes' reference; only the authorizer
# function reads keys, so the key table's model loads on the first authorisation.
accounts = LazyModule("chalicelib.store.accounts")

log = logging.getLogger(__name__)

auth = Blueprint(__name__)


class Unauthorized(Exception):
    """Raised with the exact message API Gateway turns into its 401 response."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _arn(method_arn: str, method: str) -> str:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path → any path of this stage
    prefix, resource = method_arn.split(":", 5)[:5], method_arn.split(":", 5)[5]
    api_id, stage = resource.split("/")[:2]
    return ":".join(prefix + [f"{api_id}/{stage}/{method}/*"])


def _policy(effect: str, resources: list[str]) -> dict:
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}]}


def caller_context(key: ApiKey) -> dict[str, str]:
    """What handlers need about the caller; API Gateway allows only flat string values."""
    denied = rules.SCOPE_DENIED if rules.may_use_api(key.plan) else rules.PLAN_DENIED
    return {
        "user_id": str(int(key.user_id)),
        "email": key.email,
        "organisation_id": "" if key.organisation_id is None else str(int(key.organisation_id)),
        "organisation_name": key.organisation_name or "",
        "team_ids": ",".join(str(t) for t in sorted(int(t) for t in key.team_ids or ())),
        "key_id": key.key_id,
        "key_name": key.name,
        "scope": key.scope,
        "detail": denied,
    }


def _rejection(key: ApiKey | None, secret: str) -> str | None:
    """Why a parsed token is refused (for the log), or None when it is the key's."""
    if key is None:
        return "unknown key"
    if key.revoked:
        return "revoked"
    if not tokens.secret_matches(secret, key.secret_hash):
        return "wrong secret"
    return None


def _log_decision(decision: str, started: float, calls: int, *, key_id: str | None = None,
                  reason: str | None = None, scope: str | None = None) -> None:
    # One line per decision; a key is named by its public id only, never the token.
    log.info("authorizer decision", extra={
        "decision": decision, "reason": reason, "key_id": key_id, "scope": scope,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1), "aws_calls": calls})


def authorize(authorization: str | None, method_arn: str,
              lookup: Callable[[str], ApiKey | None] | None = None) -> dict:
    """The authorizer's answer for one request, or :class:`Unauthorized`."""
    lookup = lookup or accounts.load_key
    started = time.perf_counter()
    try:
        key_id, secret = tokens.parse_authorization(authorization)
    except tokens.InvalidToken as exc:
        _log_decision("unauthorized", started, 0, reason="malformed token")
        raise Unauthorized() from exc
    with aws.counting_calls() as calls:
        key = lookup(key_id)
    rejection = _rejection(key, secret)
    if key is None or rejection is not None:
        _log_decision("unauthorized", started, len(calls), key_id=key_id, reason=rejection)
        raise Unauthorized()
    context = caller_context(key)
    allowed = rules.may_use_api(key.plan)
    if not allowed:
        policy = _policy("Deny", [_arn(method_arn, "*")])
    elif key.scope == "write":
        policy = _policy("Allow", [_arn(method_arn, "*")])
    else:
        policy = _policy("Allow", [_arn(method_arn, m) for m in rules.READ_METHODS])
    _log_decision("allow" if allowed else "deny", started, len(calls), key_id=key_id,
                  reason=None if allowed else "plan", scope=key.scope)
    return {"principalId": f"user/{context['user_id']}", "policyDocument": policy,
            "context": context}


@auth.authorizer(ttl_seconds=0, name="api_key_authorizer")
def api_key_authorizer(auth_request: AuthRequest) -> dict:
    return authorize(auth_request.token, auth_request.method_arn)
