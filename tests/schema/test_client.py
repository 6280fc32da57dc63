"""A Python client generated from the served document runs the quickstart against the local stack."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import requests

PACKAGE = "temporalist_client"
CONFIG = f"""\
project_name_override: temporalist-client
package_name_override: {PACKAGE}
post_hooks: []
"""


@pytest.fixture
def generated_client(live, tmp_path):
    """``openapi-python-client generate`` from the served JSON document, imported from tmp_path."""
    schema = tmp_path / "openapi.json"
    response = requests.get(f"{live.base_url}/openapi.json", headers={"Accept": "application/json"},
                            timeout=10)
    assert response.status_code == 200
    schema.write_text(response.text)
    (tmp_path / "config.yaml").write_text(CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [str(generator), "generate", "--path", str(schema), "--config", "config.yaml",
         "--meta", "none", "--output-path", PACKAGE],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_quickstart_through_a_generated_client(live, generated_client):
    client_module = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")
    get_me = importlib.import_module(f"{PACKAGE}.api.identity.get_me")
    create_project = importlib.import_module(f"{PACKAGE}.api.projects.create_project")
    create_session = importlib.import_module(f"{PACKAGE}.api.sessions.create_session")
    close_session = importlib.import_module(f"{PACKAGE}.api.sessions.close_session")
    get_project = importlib.import_module(f"{PACKAGE}.api.projects.get_project")

    client = client_module.AuthenticatedClient(base_url=live.base_url, token=live.token,
                                               raise_on_unexpected_status=True)
    with client as api:
        # 1. Verify your key
        me = get_me.sync(client=api)
        assert isinstance(me, models.Me)
        assert (me.organisation_name, me.api_key_scope.value) == ("Dunder Mifflin", "write")
        # 2. Create a project
        project = create_project.sync(client=api,
                                      body=models.ProjectCreate(name="Website redesign"))
        assert isinstance(project, models.Project)
        assert (project.name, project.is_active, project.currency) == \
            ("Website redesign", False, "USD")
        # 3. Start tracking time against it
        session = create_session.sync(client=api,
                                      body=models.SessionCreate(project_id=project.id))
        assert isinstance(session, models.Session)
        assert session.is_active and session.project_name == "Website redesign"
        # 4. Stop it later
        closed = close_session.sync(client=api, session_id=session.id,
                                    idempotency_key=f"close-{session.id}")
        assert isinstance(closed, models.Session)
        assert not closed.is_active and closed.end_time is not None
        # closing again: the documented other shape, parsed as such
        again = close_session.sync(client=api, session_id=session.id)
        assert isinstance(again, models.SessionAlreadyClosed)
        assert again.session.id == session.id
        # errors come back as the documented error bodies
        missing = get_project.sync(client=api, project_id=session.id)
        assert isinstance(missing, models.Detail) and missing.detail == "Not found."
        invalid = create_project.sync(client=api, body=models.ProjectCreate(name=" "))
        assert isinstance(invalid, models.FieldErrors)
        assert invalid.additional_properties == {"name": ["This field may not be blank."]}

    anonymous = client_module.AuthenticatedClient(base_url=live.base_url, token="tk_live_nope")
    with anonymous as api:
        denied = get_me.sync_detailed(client=api)
        assert denied.status_code == 401
        assert denied.parsed.detail == "Invalid or missing API key."
