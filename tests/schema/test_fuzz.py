"""Schemathesis against the real local stack over HTTP: every operation, every default check.

``schemathesis run`` (all four phases: examples, coverage, fuzzing, stateful through the
document's links) with the demo organisation's write key. What a JSON Schema cannot say
is supplied by :mod:`tests.schema.schemathesis_hooks` (existing ids, a session's end after
its start, fresh idempotency keys) rather than by leaving operations or checks out.

Three settings narrow the defaults, each for a reason of the platform, the contract or
the tool:
- TRACE is not among the unexpected methods tried: API Gateway REST APIs cannot declare
  it, so there is no route on which to answer it with 405.
- ``send`` on a paid invoice is a documented 400 (SPEC section 4), a state the request
  cannot show, so 400 is an expected status of valid requests to that one operation.
- The stateful phase follows the document's own links (create → get/update/delete/close/
  send/...), not links Schemathesis infers: inferred chains can add query parameters the
  document does not declare, which the API (rightly, like most) ignores and Schemathesis
  then counts as accepted bad input.

``TEMPORALIST_FUZZ_EXAMPLES`` and ``TEMPORALIST_FUZZ_SEED`` change the budget and the seed
(e.g. a longer exploratory run); the defaults keep the run to a few minutes on 2 cores.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("TEMPORALIST_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("TEMPORALIST_FUZZ_SEED", "1"))

CONFIG = """\
seed = {seed}
# One worker: Python 3.11's ast.parse is not thread-safe, and Hypothesis calls it.
workers = 1
request-timeout = 30

[generation]
max-examples = {max_examples}
database = "none"

[auth.openapi.bearerAuth]
bearer = "{token}"

[phases.coverage]
unexpected-methods = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]

[phases.stateful.generation]
max-examples = {stateful_examples}

[phases.stateful.inference]
algorithms = []

[[operations]]
include-operation-id = "send_invoice"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"""


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_failure(live, live_ids, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(seed=SEED, max_examples=MAX_EXAMPLES, token=live.token,
                                    stateful_examples=2 * MAX_EXAMPLES))
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "SCHEMATHESIS_HOOKS": "tests.schema.schemathesis_hooks",
           "TEMPORALIST_FUZZ_PROJECT_ID": live_ids.project_id,
           "TEMPORALIST_FUZZ_CLIENT_ID": live_ids.client_id}
    command = [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file",
               str(config), "run", f"{live.base_url}/openapi.json?format=json",
               "--url", live.base_url,
               # an explicit filter, or the CLI leaves out the document's own operation
               "--include-path-regex", "^/"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=880)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    summary = output[output.rfind("SUMMARY"):]
    from app import app
    from chalicelib.api import docs
    operations = len(docs.described_routes(app.routes))
    assert f"Selected: {operations}/{operations}" in summary, summary
    assert f"Tested: {operations}" in summary, summary
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary, summary
    assert "No issues found" in summary, summary
