"""The errors API Gateway answers by itself, defined once for the template and the local gateway.

API Gateway, not our code, produces the 401 of a bad key, the 403 of a denied policy,
the answer to an unknown route and its own 4xx/5xx. Each is a gateway response whose
body is a mapping template; this table is rendered into the deployment template and
interpreted by :mod:`chalicelib.local.gateway`, so local runs see the production bodies.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from chalicelib import errors


@dataclass(frozen=True)
class GatewayResponse:
    response_type: str
    status_code: int
    template: str
    headers: dict[str, str] = field(default_factory=dict)


def _detail(text: str) -> str:
    return json.dumps({"detail": text})


GATEWAY_RESPONSES: dict[str, GatewayResponse] = {
    r.response_type: r for r in (
        GatewayResponse("UNAUTHORIZED", errors.NotAuthenticated.status_code,
                        _detail(errors.NotAuthenticated.default_detail),
                        {"WWW-Authenticate": "Bearer"}),
        GatewayResponse("ACCESS_DENIED", errors.PermissionDenied.status_code,
                        '{"detail": "$context.authorizer.detail"}'),
        # API Gateway answers an unknown path (and an unknown method) with this type.
        GatewayResponse("MISSING_AUTHENTICATION_TOKEN", errors.NotFound.status_code,
                        _detail(errors.NotFound.default_detail)),
        GatewayResponse("DEFAULT_4XX", 0, '{"detail": $context.error.messageString}'),
        GatewayResponse("DEFAULT_5XX", errors.InternalError.status_code,
                        _detail(errors.InternalError.default_detail)),
        # The stage's rate/burst limits (template parameters) answer this; a client may
        # retry after a second (SPEC section 7).
        GatewayResponse("THROTTLED", errors.Throttled.status_code,
                        _detail(errors.Throttled.default_detail),
                        {"Retry-After": str(errors.Throttled.RETRY_AFTER_SECONDS)}),
        # A body over API Gateway's own payload limit (SPEC section 1: the same 413 the
        # function gives a body over 1 MiB).
        GatewayResponse("REQUEST_TOO_LARGE", errors.PayloadTooLarge.status_code,
                        _detail(errors.PayloadTooLarge.default_detail)),
    )
}

# API Gateway's own limit on a request's payload (REST APIs: 10 MB); it answers a larger
# one with REQUEST_TOO_LARGE before any function runs.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024

_VARIABLE = re.compile(r"\$context\.(authorizer\.\w+|error\.messageString)")


def render(response_type: str, *, authorizer: dict[str, str] | None = None,
           error_message: str = "", status_code: int | None = None
           ) -> tuple[int, dict[str, str], str]:
    """Status, headers and body as API Gateway would send them for ``response_type``."""
    response = GATEWAY_RESPONSES[response_type]

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name == "error.messageString":
            return json.dumps(error_message)
        return str((authorizer or {}).get(name.split(".", 1)[1], ""))

    body = _VARIABLE.sub(substitute, response.template)
    headers = {"Content-Type": "application/json", **response.headers}
    return status_code or response.status_code, headers, body


def cloudformation_resources(rest_api: dict) -> dict:
    """``AWS::ApiGateway::GatewayResponse`` resources for the deployment template."""
    resources = {}
    for response in GATEWAY_RESPONSES.values():
        name = "GatewayResponse" + "".join(p.title() for p in response.response_type.split("_"))
        properties = {
            "RestApiId": rest_api,
            "ResponseType": response.response_type,
            "ResponseTemplates": {"application/json": response.template},
            "ResponseParameters": {
                f"gatewayresponse.header.{name_}": f"'{value}'"
                for name_, value in {"Content-Type": "application/json", **response.headers}.items()
            },
        }
        if response.status_code:
            properties["StatusCode"] = str(response.status_code)
        resources[name] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return resources
