"""The real local stack for end-to-end tests, started once per module and stopped after it."""
import pytest

from tests.conftest import free_port
from tests.e2e.stack import start_stack


@pytest.fixture(scope="module")
def stack():
    """``python -m chalicelib.local`` on free ports, stopped (SIGINT) at the end."""
    running = start_stack(free_port(), free_port())
    yield running
    assert running.stop() == 0
