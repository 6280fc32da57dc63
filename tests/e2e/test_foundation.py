"""Over real HTTP against the local stack: the printed key, the CLI, and the error bodies."""
import json

import requests


def test_printed_key_and_curl_line_work(stack):
    assert any("curl http://localhost:" in line and "/api/v1/me/" in line for line in stack.lines)
    response = requests.get(f"{stack.base_url}/me/",
                            headers={"Authorization": f"Bearer {stack.token}"}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["organisation_name"] == "Dunder Mifflin"
    assert body["api_key_scope"] == "write"


def test_cli_key_works_and_revocation_applies_on_next_request(stack):
    user = json.loads(stack.cli("create-user", "cli@example.com", "--org", "1").stdout)
    created = stack.cli("create-key", str(user["user_id"]), "--name", "Zapier", "--scope", "read")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    headers = {"Authorization": f"Bearer {key['token']}"}
    me = requests.get(f"{stack.base_url}/me", headers=headers, timeout=10)
    assert me.status_code == 200
    assert me.json()["api_key_name"] == "Zapier"
    assert stack.cli("revoke-key", key["key_id"]).returncode == 0
    again = requests.get(f"{stack.base_url}/me", headers=headers, timeout=10)
    assert again.status_code == 401
    assert again.json() == {"detail": "Invalid or missing API key."}
    assert again.headers["WWW-Authenticate"] == "Bearer"


def test_error_bodies_over_http(stack):
    missing = requests.get(f"{stack.base_url}/me/", timeout=10)
    assert (missing.status_code, missing.json()) == (401, {"detail": "Invalid or missing API key."})
    unknown = requests.get(f"{stack.base_url}/nowhere", timeout=10)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not found."})
    wrong = requests.delete(f"{stack.base_url}/me/",
                            headers={"Authorization": f"Bearer {stack.token}"}, timeout=10)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert wrong.json() == {"detail": 'Method "DELETE" not allowed.'}
