"""A local API Gateway: routing, the TOKEN authorizer, policies and gateway responses.

Chalice's own local gateway answers auth failures and unknown routes with API
Gateway's default bodies and ignores explicit Deny; this one applies the same
:data:`chalicelib.gateway.GATEWAY_RESPONSES` the deployment template uses, so the dev
server and the tests see exactly what production sends.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from chalice.app import Chalice
from chalice.local import (ARNMatcher, LambdaContext, LambdaEventConverter, LocalARNBuilder,
                           LocalChalice, RouteMatcher)

from chalicelib import errors, gateway
from chalicelib.api.routing import ALL_METHODS, GENERATED_PREFIX

log = logging.getLogger(__name__)
NOT_ALLOWED_VIEW = GENERATED_PREFIX + "not_allowed"


@dataclass
class GatewayResult:
    status_code: int
    headers: dict[str, str]
    body: bytes


class _Denied(Exception):
    def __init__(self, response_type: str, authorizer: dict | None = None):
        super().__init__(response_type)
        self.response_type = response_type
        self.authorizer = authorizer


def _statement_matches(statements: list[dict], effect: str, arn: str) -> bool:
    resources = [r for s in statements if s.get("Effect") == effect
                 for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    return ARNMatcher(arn).does_any_resource_match(resources)


class LocalGateway:
    """Turns an HTTP request into the Lambda events API Gateway would make."""

    def __init__(self, app: Chalice):
        # Chalice keeps the current request on the app; make it per-thread for a threaded server.
        if not isinstance(app, LocalChalice):
            app.__class__ = LocalChalice
        self._app = app
        self._routes = RouteMatcher(list(app.routes))
        self._events = LambdaEventConverter(self._routes, app.api.binary_types)
        self._arns = LocalARNBuilder()

    def handle(self, method: str, path: str, headers: dict[str, str],
               body: bytes | None) -> GatewayResult:
        try:
            return self._handle(method.upper(), path, headers, body)
        except _Denied as denied:
            return self._gateway_response(denied.response_type, authorizer=denied.authorizer)
        except Exception:  # an error API Gateway would turn into its 5xx response
            log.exception("local gateway failure on %s %s", method, path.split("?")[0])
            return self._gateway_response("DEFAULT_5XX")

    def payload_too_large(self) -> GatewayResult:
        """API Gateway's answer to a body over its own limit (the function never runs)."""
        return self._gateway_response("REQUEST_TOO_LARGE")

    def _handle(self, method: str, path: str, headers: dict[str, str],
                body: bytes | None) -> GatewayResult:
        if not path.startswith("/") or path.startswith("//"):
            # Not a path (an absolute URL, or "//host/..." that URL parsing reads as a host):
            # no route matches it, and no part of it may reach a response.
            raise _Denied("MISSING_AUTHENTICATION_TOKEN")
        try:
            event = self._events.create_lambda_event(method, path, headers, body)
        except ValueError:
            raise _Denied("MISSING_AUTHENTICATION_TOKEN")
        resource = event["requestContext"]["resourcePath"]
        route = self._app.routes[resource].get(method)
        if route is None and method not in ALL_METHODS:
            route = self._stand_in(resource)
        if route is None:
            raise _Denied("MISSING_AUTHENTICATION_TOKEN")
        event["requestContext"]["httpMethod"] = route.method
        event["requestContext"]["stage"] = LocalARNBuilder.LOCAL_STAGE
        event["requestContext"]["requestId"] = str(uuid.uuid4())  # as API Gateway gives each
        context = LambdaContext("api_handler", 512)
        if route.authorizer is not None:
            event["requestContext"]["authorizer"] = self._authorize(
                route.authorizer, method, path, event["headers"], context)
        response = self._app(event, context)
        payload = response.get("body") or ""
        headers_out = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers_out[name] = ", ".join(values)
        if route.method != method and response["statusCode"] == errors.MethodNotAllowed.status_code:
            # The stand-in's 405 names its own method; the client's is the one to name.
            allowed = [m.strip() for m in headers_out.get("Allow", "").split(",") if m.strip()]
            status, headers, body = errors.error_payload(errors.MethodNotAllowed(method, allowed))
            return GatewayResult(status, headers, body.encode())
        return GatewayResult(response["statusCode"], headers_out,
                             payload.encode() if isinstance(payload, str) else payload)

    def _stand_in(self, resource: str):
        """The route answering a method API Gateway does not define (``QUERY``, ``FOO``).

        Chalice routes only the methods it knows, so such a request runs the path's
        generated 405 route (same authorizer, so key, plan and scope come first, SPEC
        section 2) and answers 405 with ``Allow`` like any undeclared method (SPEC section 1).
        """
        return next((entry for entry in self._app.routes[resource].values()
                     if entry.view_name.startswith(NOT_ALLOWED_VIEW)), None)

    def _authorize(self, authorizer, method: str, path: str, headers: dict[str, str],
                   context: LambdaContext) -> dict:
        token = headers.get(authorizer.config.header.lower())
        if not token:
            raise _Denied("UNAUTHORIZED")
        arn = self._arns.build_arn(method, path)
        try:
            result = authorizer({"type": "TOKEN", "authorizationToken": token,
                                 "methodArn": arn}, context)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                raise _Denied("UNAUTHORIZED") from exc
            raise
        statements = result.get("policyDocument", {}).get("Statement", [])
        # Context values reach the integration as strings, as API Gateway passes them.
        auth_context = {k: v if isinstance(v, str) else json.dumps(v)
                        for k, v in (result.get("context") or {}).items()}
        if _statement_matches(statements, "Deny", arn) or not _statement_matches(
                statements, "Allow", arn):
            raise _Denied("ACCESS_DENIED", auth_context)
        return {**auth_context, "principalId": result.get("principalId")}

    @staticmethod
    def _gateway_response(response_type: str, authorizer: dict | None = None) -> GatewayResult:
        status, headers, body = gateway.render(response_type, authorizer=authorizer)
        return GatewayResult(status, headers, body.encode())
