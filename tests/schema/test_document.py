"""The served OpenAPI document: valid, negotiated, complete, and built from the code's own sources."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from chalicelib.api import docs
from chalicelib.api.routing import GENERATED_PREFIX
from chalicelib.schema import document, operations

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "post", "patch", "delete", "put", "head", "options"}


@pytest.fixture
def served(anonymous) -> dict:
    """The document as a client without a key gets it, in JSON."""
    response = anonymous.get("/openapi.json?format=json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture(scope="module")
def app_routes():
    """The Chalice route table (the source of the document's paths)."""
    from app import app
    return app.routes


def test_document_is_a_valid_openapi_31_document(served):
    validate(served)
    assert served["openapi"].startswith("3.1")


def test_yaml_by_default_json_on_request_and_the_same_document(anonymous, served):
    default = anonymous.get("/openapi.json")
    assert default.status_code == 200
    assert default.header("Content-Type") == "application/yaml"
    assert yaml.safe_load(default.text) == served

    by_accept = anonymous.get("/openapi.json", headers={"Accept": "application/json"})
    assert by_accept.header("Content-Type") == "application/json"
    assert by_accept.json() == served

    by_query = anonymous.get("/openapi.json?format=json")
    assert by_query.header("Content-Type") == "application/json"
    assert by_query.json() == served

    forced_yaml = anonymous.get("/openapi.json/?format=yaml",
                                headers={"Accept": "application/json"})
    assert forced_yaml.header("Content-Type") == "application/yaml"
    assert yaml.safe_load(forced_yaml.text) == served
    assert "&id" not in default.text  # no YAML anchors: plain for every YAML reader


@pytest.mark.parametrize("accept, expected", [
    (None, "yaml"), ("*/*", "yaml"), ("application/json", "json"),
    ("application/yaml", "yaml"), ("application/json;q=0.5, application/yaml", "yaml"),
    ("text/html, application/json", "json"), ("application/json;q=0", "yaml"),
])
def test_accept_header_negotiation(accept, expected):
    assert docs.negotiated_format(None, accept) == expected


def test_an_unknown_format_is_a_field_error(anonymous):
    response = anonymous.get("/openapi.json?format=xml")
    assert response.status_code == 400
    assert response.json() == {"format": ['"xml" is not a valid choice.']}


def test_a_key_is_not_needed_and_a_bad_one_does_not_matter(anonymous):
    response = anonymous.get("/openapi.json", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200


def _served_operations(doc: dict, prefix: str = "/api/v1") -> set[tuple[str, str]]:
    found = set()
    for path, item in doc["paths"].items():
        route = prefix + path.rstrip("/") if path != "/" else prefix
        found |= {(method.upper(), route) for method in item if method in METHODS}
    return found


def test_every_route_is_described_and_every_description_has_a_route(app_routes, served):
    routes = {key: route.view_name  # without the 405s and the docs page
              for key, route in docs.described_routes(app_routes).items()}
    described_views = set(operations.OPERATIONS)
    assert set(routes.values()) - described_views == set(), "routes without a description"
    assert described_views - set(routes.values()) == set(), "descriptions without a route"
    assert _served_operations(served) == set(routes), "the served document differs from the routes"
    for (method, path), view in routes.items():
        operation = served["paths"][document._doc_path(path, "/api/v1")][method.lower()]
        assert operation["operationId"] == view


def test_only_generated_405s_and_the_docs_page_are_left_out(app_routes):
    left_out = {route.view_name for entries in app_routes.values() for route in entries.values()
                if route.view_name not in operations.OPERATIONS}
    assert {v for v in left_out if not v.startswith(GENERATED_PREFIX)} == \
        set(docs.UNDESCRIBED)


def test_a_route_without_a_description_fails_the_build(app_routes):
    fake = {**docs.described_routes(app_routes), ("GET", "/api/v1/extra"): type(
        "Route", (), {"view_name": "undocumented_view", "authorizer": object(),
                      "view_function": None})()}
    with pytest.raises(LookupError, match="undocumented_view"):
        document.build(fake, "/api/v1")


def test_security_and_scope_of_every_operation(served):
    scheme = served["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert served["security"] == [{"bearerAuth": []}]
    for path, item in served["paths"].items():
        for method, operation in item.items():
            if operation["operationId"] == "get_openapi":
                assert operation["security"] == [] and "x-scope" not in operation
                continue
            scope = "read" if method == "get" else "write"
            assert operation["x-scope"] == scope, (method, path)
            assert f"**Scope:** `{scope}`" in operation["description"]
            assert {"401", "403"} <= set(operation["responses"])


def test_errors_and_extensions_are_described(served):
    components = served["components"]
    assert set(components["responses"]) >= {"ValidationFailed", "Unauthorized", "NotFound",
                                             "MethodNotAllowed", "IdempotencyInProgress",
                                             "UnsupportedMediaType"}
    assert "WWW-Authenticate" in components["responses"]["Unauthorized"]["headers"]
    assert "Allow" in components["responses"]["MethodNotAllowed"]["headers"]
    assert "over 1 MiB (1,048,576 bytes)" in components["responses"]["PayloadTooLarge"][
        "description"]
    assert "would pass 5 MiB gets 400" in served["info"]["description"]
    assert "/invoices/{invoice_id}/line_items/" in served["paths"]
    for path, item in served["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if method == "post":
                assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"]
                assert {"400", "409"} <= set(responses)
                success = next(v for k, v in responses.items() if k.startswith("2"))
                assert "Idempotent-Replayed" in success["headers"]
            if "requestBody" in operation:
                assert {"400", "415"} <= set(responses)
            if "{" in path:
                assert "404" in responses
            # any method's body may be too large; the stage may throttle any request
            assert {"413", "429"} <= set(responses), (method, path)


def test_the_idempotency_answers_are_quoted(served):
    from chalicelib.domain import idempotency
    responses = served["components"]["responses"]
    assert idempotency.IN_PROGRESS in responses["IdempotencyInProgress"]["description"]
    assert idempotency.DIFFERENT_REQUEST in responses["ValidationFailed"]["description"]


def test_the_throttled_answer_is_the_gateways(served):
    from chalicelib import errors, gateway
    throttled = served["components"]["responses"]["Throttled"]
    configured = gateway.GATEWAY_RESPONSES["THROTTLED"]
    assert configured.status_code == 429
    assert f"`{configured.template}`" in throttled["description"]
    assert errors.Throttled.default_detail in throttled["description"]
    assert set(throttled["headers"]) == set(configured.headers) == {"Retry-After"}


def test_request_bodies_are_the_validators_fields(served):
    schemas = served["components"]["schemas"]
    for name, (validator, partial) in operations.REQUEST_SCHEMAS.items():
        assert set(schemas[name]["properties"]) == set(validator.fields), name
        required = {n for n, f in validator.fields.items() if f.required and not partial}
        assert set(schemas[name].get("required", [])) == required, name


def _validator(served: dict, name: str):
    schema = {**served["components"]["schemas"][name], "components": served["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_the_quickstart_responses_match_their_schemas(api, served):
    project = api.post("/projects/", {"name": "Website redesign", "hourly_rate": 120})
    session = api.post("/sessions/", {"project_id": project.json()["id"]})
    closed = api.post(f"/sessions/{session.json()['id']}/close/")
    again = api.post(f"/sessions/{session.json()['id']}/close/")
    for name, response in [("Me", api.get("/me/")), ("Project", project),
                           ("Session", session), ("Session", closed),
                           ("SessionAlreadyClosed", again)]:
        assert response.status_code in (200, 201), response.text
        _validator(served, name).validate(response.json())


def test_importing_the_app_does_not_load_the_document_or_yaml():
    code = ("import sys, app; "
            "print(sorted(m for m in ('yaml', 'chalicelib.schema.document', "
            "'chalicelib.schema.operations', 'chalicelib.schema.docs_page') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_the_document_is_built_once_per_process(app_routes):
    app_routes = docs.described_routes(app_routes)
    cache = document.DocumentCache()
    first = cache.document(app_routes, "/api/v1")
    assert cache.document(app_routes, "/api/v1") is first
    text = cache.render(app_routes, "/api/v1", "/api/v1", "json")
    assert cache.render(app_routes, "/api/v1", "/api/v1", "json") is text


def test_servers_follow_the_path_the_client_used():
    assert docs._base("/api/v1/openapi.json", "/api/api/v1/openapi.json/", "/openapi.json") == \
        ("/api/v1", "/api/api/v1")
    assert docs._base("/api/v1/docs", "/api/v1/docs/", "/docs") == ("/api/v1", "/api/v1")
