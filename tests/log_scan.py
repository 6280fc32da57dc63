"""Every log line the test session produces, scanned for secrets (fixtures for tests/conftest.py).

Each log record is formatted as the Lambda runtime's JSON format would print it
(:class:`chalicelib.observability.JsonFormatter`, ``extra`` fields included), at INFO as
the functions log on AWS, and checked as it is emitted; so are the lines of every local
stack a test starts in a subprocess (tests/e2e/stack.py) and of every function run from
the deployment package (chalicelib/deploy/invoke.py). A line fails the test that made it
when it holds:

- a whole token (``tk_live_<id>_<secret>``), or the secret of any token issued during the
  session (``tokens.issue`` is wrapped to learn them);
- 64 hexadecimal characters in a row: a webhook subscription's secret is
  ``token_hex(32)``, and so is a stored key hash; neither may be logged;
- a secret in the Standard Webhooks form (``whsec_`` and its base64).

A record whose ``extra`` fields are not JSON types fails too: the runtime's formatter
cannot print it on AWS. A local stack prints its demo key once, on purpose, before it
says it is ready: those banner lines are the only ones exempt.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import Iterable

import pytest

from chalicelib.observability import JsonFormatter

TOKEN = re.compile(r"tk_live_[a-z0-9]{8}_[a-z0-9]{32}")
HEX_SECRET = re.compile(r"[0-9a-fA-F]{64}")
STANDARD_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{16,}")


class SecretScanner(logging.Handler):
    """A root-logger handler that remembers issued secrets and every line that leaks one."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(JsonFormatter())
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self.findings: list[str] = []
        self.reported = 0  # findings a test has already failed for

    def remember(self, secret: str) -> None:
        with self._lock:
            self._secrets.add(secret)

    def leak(self, line: str) -> str | None:
        """What secret ``line`` holds (shortened), or None."""
        found = TOKEN.search(line) or HEX_SECRET.search(line) or STANDARD_SECRET.search(line)
        if found:
            return found.group(0)[:16] + "…"
        with self._lock:
            known = [s for s in self._secrets if s in line]
        return known[0][:8] + "…" if known else None

    def check(self, line: str, where: str) -> None:
        leaked = self.leak(line)
        if leaked:
            with self._lock:
                self.findings.append(f"{where}: a secret ({leaked}) in {line[:300]}")

    def check_lines(self, lines: Iterable[str], where: str) -> None:
        for line in lines:
            self.check(line, where)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception as exc:  # noqa: BLE001 - the runtime would fail to print it too
            with self._lock:
                self.findings.append(f"{record.name}: a record Lambda's JSON format cannot "
                                     f"print ({exc!r}): {record.msg!r}")
            return
        self.check(line, record.name)


SCANNER = SecretScanner()


def _banner_end(lines: list[str]) -> int:
    return next((i + 1 for i, line in enumerate(lines) if "ready" in line), 0)


@pytest.fixture(scope="session", autouse=True)
def scanned_logs():
    """Scan the session's log records (at INFO, as on AWS) and local-stack output for secrets."""
    from chalicelib.auth import tokens
    from tests.e2e import stack

    root = logging.getLogger()
    level = root.level
    root.addHandler(SCANNER)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    issue, stop = tokens.issue, stack.RunningStack.stop

    def remembering_issue():
        issued = issue()
        SCANNER.remember(issued.secret)
        return issued

    def scanning_stop(self):
        code = stop(self)
        lines = list(self.lines)
        start = _banner_end(lines)
        for line in lines[:start]:  # the demo key is printed, by design, in the banner
            for token in TOKEN.findall(line):
                SCANNER.remember(token.rsplit("_", 1)[1])
        SCANNER.check_lines(lines[start:], "local stack output")
        return code

    tokens.issue, stack.RunningStack.stop = remembering_issue, scanning_stop
    try:
        yield SCANNER
    finally:
        tokens.issue, stack.RunningStack.stop = issue, stop
        root.removeHandler(SCANNER)
        root.setLevel(level)
    # Lines that arrived after their test ended (a stack stopped with its module).
    late = SCANNER.findings[SCANNER.reported:]
    assert not late, "secrets in log lines:\n" + "\n".join(late)


@pytest.fixture(autouse=True)
def no_secrets_in_logs(scanned_logs):
    """Fail the test whose log lines (or stack output) carry a secret."""
    before = len(scanned_logs.findings)
    yield
    leaked = scanned_logs.findings[before:]
    scanned_logs.reported = len(scanned_logs.findings)
    assert not leaked, "secrets in log lines:\n" + "\n".join(leaked)
