"""The docs page and its assets as the API serves them (no key, same origin, no traversal)."""
from __future__ import annotations

import pytest

from chalicelib.schema import docs_page

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024  # bytes a Lambda proxy response may carry


def test_the_page_loads_swagger_ui_from_this_api_and_points_at_the_json_document(anonymous):
    for path in ("/docs/", "/docs"):
        response = anonymous.get(path)
        assert response.status_code == 200
        assert response.header("Content-Type") == "text/html; charset=utf-8"
        page = response.text
        assert '<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css">' in page
        assert '<script src="/api/v1/docs/swagger-ui-bundle.js"></script>' in page
        assert '"url": "/api/v1/openapi.json?format=json"' in page
        assert '"persistAuthorization": true' in page
        assert "http://" not in page and "https://" not in page  # nothing from elsewhere
        csp = response.header("Content-Security-Policy")
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp


@pytest.mark.parametrize("name, content_type", [
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    ("swagger-ui.css", "text/css; charset=utf-8"),
])
def test_assets_are_the_package_files_as_text(anonymous, name, content_type):
    response = anonymous.get(f"/docs/{name}")
    assert response.status_code == 200
    assert response.header("Content-Type") == content_type
    assert response.text.encode() == (docs_page.dist_dir() / name).read_bytes()
    assert len(response.text.encode()) < LAMBDA_RESPONSE_LIMIT


@pytest.mark.parametrize("name", [
    "..%2F..%2Fdocs_page.py", "..", "%2e%2e", "index.html", "swagger-editor.js",
    "swagger-ui.css.map", "LICENSE", "nope.js",
])
def test_only_swagger_ui_scripts_and_styles_are_served(anonymous, name):
    response = anonymous.get(f"/docs/{name}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_page_follows_a_stage_prefix():
    page, headers = docs_page.page("/api/api/v1")
    assert 'src="/api/api/v1/docs/swagger-ui-bundle.js"' in page
    assert '"/api/api/v1/openapi.json?format=json"' in page
    assert headers["Content-Type"].startswith("text/html")
