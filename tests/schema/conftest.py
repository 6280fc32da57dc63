"""Fixtures of the schema tests: one real local stack for the package, and ids on it."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from tests.conftest import free_port
from tests.e2e.stack import RunningStack, start_stack


@pytest.fixture(scope="package")
def live() -> RunningStack:
    """``python -m chalicelib.local`` on free ports for the fuzz, client and browser tests."""
    running = start_stack(free_port(), free_port())
    yield running
    assert running.stop() == 0


@dataclass(frozen=True)
class LiveIds:
    client_id: str
    project_id: str  # linked to the client


@pytest.fixture(scope="package")
def live_ids(live: RunningStack) -> LiveIds:
    """A client of the demo organisation and a project linked to it, made through the API."""
    headers = {"Authorization": f"Bearer {live.token}"}
    client = requests.post(f"{live.base_url}/clients/", json={"name": "Fuzz client"},
                           headers=headers, timeout=10)
    assert client.status_code == 201, client.text
    project = requests.post(f"{live.base_url}/projects/",
                            json={"name": "Fuzz project", "client_id": client.json()["id"],
                                  "hourly_rate": "100.00"},
                            headers=headers, timeout=10)
    assert project.status_code == 201, project.text
    return LiveIds(client.json()["id"], project.json()["id"])
