"""``GET /me/``: who the key belongs to, answered from the authorizer's context alone."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.routing import ApiRequest, endpoint

me = Blueprint(__name__)


@endpoint(me, "/me")
def get_me(request: ApiRequest) -> dict:
    caller = request.caller
    return {
        "user_id": caller.user_id,
        "email": caller.email,
        "organisation_id": caller.organisation_id,
        "organisation_name": caller.organisation_name,
        "api_key_name": caller.key_name,
        "api_key_scope": caller.scope,
    }
