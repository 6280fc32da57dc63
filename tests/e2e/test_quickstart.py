"""Over real HTTP against ``make run``'s stack: the reference's quickstart and its other examples.

Requests are sent as the reference's curl lines send them: the printed base URL
(``http://localhost:<port>/api/v1``), the printed key, ``Content-Type: application/json``
with the ``-d`` bodies byte for byte, and no body at all on ``close``.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import requests

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SESSION_KEYS = {"id", "project_id", "project_name", "start_time", "end_time", "description",
                "started_via", "is_active", "total_seconds"}


class Curl:
    """The reference's curl calls, as ``requests`` calls against the running stack."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.auth = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base + path, headers=self.auth, timeout=15)

    def send(self, method: str, path: str, data: str | None = None) -> requests.Response:
        headers = dict(self.auth)
        if data is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(method, self.base + path, headers=headers,
                                data=None if data is None else data.encode(), timeout=15)


@pytest.fixture(scope="module")
def curl(stack) -> Curl:
    """The printed base URL and key of the running stack."""
    base = next(m.group(1) for line in stack.lines
                if (m := re.search(r"API ready on (\S+)", line)))
    assert base == f"http://localhost:{stack.api_port}/api/v1"
    return Curl(base, stack.token)


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_quickstart_word_for_word(curl):
    # 1. Verify your key
    me = curl.get("/me/")
    assert me.status_code == 200
    assert me.headers["Content-Type"] == "application/json"
    assert set(me.json()) == {"user_id", "email", "organisation_id", "organisation_name",
                              "api_key_name", "api_key_scope"}
    assert me.json()["api_key_scope"] == "write"

    # 2. Create a project
    created = curl.send("POST", "/projects/", '{"name": "Website redesign"}')
    assert created.status_code == 201
    project = created.json()
    assert UUID4.fullmatch(project["id"])
    assert project == {"id": project["id"], "name": "Website redesign", "is_active": False,
                       "currency": "USD", "hourly_rate": None, "client_id": None}

    # 3. Start tracking time against it (the project is inactive: that is allowed)
    started = curl.send("POST", "/sessions/", '{"project_id": "%s"}' % project["id"])
    assert started.status_code == 201
    session = started.json()
    assert set(session) == SESSION_KEYS
    assert TIMESTAMP.fullmatch(session["start_time"])
    assert session == {"id": session["id"], "project_id": project["id"],
                       "project_name": "Website redesign", "start_time": session["start_time"],
                       "end_time": None, "description": "", "started_via": "api",
                       "is_active": True, "total_seconds": 0}

    # 4. Stop it later
    closed = curl.send("POST", f"/sessions/{session['id']}/close/")
    assert closed.status_code == 200
    body = closed.json()
    assert set(body) == SESSION_KEYS
    assert TIMESTAMP.fullmatch(body["end_time"])
    assert body == {**session, "end_time": body["end_time"], "is_active": False,
                    "total_seconds": int((parse(body["end_time"]) -
                                          parse(session["start_time"])).total_seconds())}

    # Retrying close(): the wrapped, idempotent shape.
    again = curl.send("POST", f"/sessions/{session['id']}/close/")
    assert again.status_code == 200
    assert again.json() == {"detail": "Session is already closed.", "session": body}


def test_project_examples(curl):
    created = curl.send("POST", "/projects/",
                        '{"name": "Website redesign", "currency": "USD", "hourly_rate": "120.00"}')
    assert created.status_code == 201
    project = created.json()
    assert project == {"id": project["id"], "name": "Website redesign", "is_active": False,
                       "currency": "USD", "hourly_rate": "120.00", "client_id": None}
    assert curl.get(f"/projects/{project['id']}/").json() == project

    activated = curl.send("PATCH", f"/projects/{project['id']}/", '{"is_active": true}')
    assert activated.json() == {**project, "is_active": True}
    patched = curl.send("PATCH", f"/projects/{project['id']}/", '{"is_active": false}')
    assert (patched.status_code, patched.json()) == (200, project)

    listed = curl.get("/projects/")
    assert listed.status_code == 200
    assert listed.json()[0] == project  # newest first


def test_session_examples(curl):
    project = curl.send("POST", "/projects/", '{"name": "Website redesign"}').json()
    running = curl.send("POST", "/sessions/", '{"project_id": "%s"}' % project["id"]).json()
    logged = curl.send("POST", "/sessions/", '{"project_id": "%s", "start_time": '
                       '"2026-06-26T09:00:00Z", "end_time": "2026-06-26T11:30:00Z"}'
                       % project["id"])
    assert logged.status_code == 201
    assert logged.json() == {"id": logged.json()["id"], "project_id": project["id"],
                             "project_name": "Website redesign",
                             "start_time": "2026-06-26T09:00:00Z",
                             "end_time": "2026-06-26T11:30:00Z", "description": "",
                             "started_via": "api", "is_active": False, "total_seconds": 9000}

    active = curl.get("/sessions/?active=true")
    assert active.status_code == 200
    assert running in active.json()
    assert all(s["is_active"] and s["end_time"] is None for s in active.json())
    assert logged.json() not in active.json()
    by_project = curl.get(f"/sessions/?project_id={project['id']}").json()
    assert by_project == [running, logged.json()]

    assert curl.get(f"/sessions/{running['id']}/").json() == running
    amended = curl.send("PATCH", f"/sessions/{running['id']}/",
                        '{"description": "Wireframes"}')
    assert amended.json() == {**running, "description": "Wireframes"}

    deleted = curl.send("DELETE", f"/sessions/{logged.json()['id']}/")
    assert (deleted.status_code, deleted.text) == (204, "")
    gone = curl.get(f"/sessions/{logged.json()['id']}/")
    assert (gone.status_code, gone.json()) == (404, {"detail": "Not found."})


def test_client_examples(curl):
    created = curl.send("POST", "/clients/",
                        '{"name": "Globex Corp", "email": "billing@globex.example"}')
    assert created.status_code == 201
    client = created.json()
    assert client == {"id": client["id"], "name": "Globex Corp", "company": "",
                      "email": "billing@globex.example", "hourly_rate": None, "currency": "USD"}
    patched = curl.send("PATCH", f"/clients/{client['id']}/",
                        '{"company": "Globex", "hourly_rate": "150.00"}')
    client = {**client, "company": "Globex", "hourly_rate": "150.00"}
    assert (patched.status_code, patched.json()) == (200, client)
    assert curl.get(f"/clients/{client['id']}/").json() == client
    assert client in curl.get("/clients/").json()

    linked = curl.send("POST", "/projects/",
                       '{"name": "Audit", "client_id": "%s"}' % client["id"])
    assert (linked.status_code, linked.json()["client_id"]) == (201, client["id"])


def test_errors_over_http(curl):
    invalid = curl.send("POST", "/projects/", '{"name": "", "hourly_rate": "1.005"}')
    assert (invalid.status_code, invalid.json()) == (400, {
        "name": ["This field may not be blank."],
        "hourly_rate": ["Ensure that there are no more than 2 decimal places."]})
    bogus = curl.send("POST", "/sessions/", '{"project_id": "not-a-uuid", '
                                            '"started_via": "bogus"}')
    assert (bogus.status_code, bogus.json()) == (400, {
        "project_id": ["Must be a valid UUID."],
        "started_via": ['"bogus" is not a valid choice.']})
    parse_error = curl.send("POST", "/clients/", "{")
    assert parse_error.status_code == 400
    assert parse_error.json()["detail"].startswith("JSON parse error - ")
    plain = requests.post(curl.base + "/projects/", data=b'{"name": "x"}', timeout=15,
                          headers={**curl.auth, "Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()) == (
        415, {"detail": 'Unsupported media type "text/plain" in request.'})
    no_delete = curl.send("DELETE", "/projects/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/")
    assert (no_delete.status_code, no_delete.headers["Allow"]) == (405, "GET, HEAD, OPTIONS, PATCH")
    missing = curl.send("POST", "/sessions/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b/close/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
