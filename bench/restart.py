"""Restart-to-ready of ``make run`` with 10,000 sessions stored (issue 16: under 10 s).

The real local stack (``python -m chalicelib.local``) in a subprocess on a fresh data
directory: the sessions are written through the embedded AWS while it runs, then the
stack is killed (``kill -9``: the next start replays the journal) and started again, then
stopped cleanly (SIGTERM: the journal is folded into a snapshot) and started again. Each
time is from process start to the ``ready`` line, after which every session is counted.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 10_000
TARGET_SECONDS = 10.0

SEED = """
import sys, uuid
from datetime import datetime, timedelta, timezone
from chalicelib.local import stack
stack.configure_environment(int(sys.argv[1]))
from chalicelib.store import sessions
from chalicelib.store.sessions import Session
base = datetime(2026, 1, 1, tzinfo=timezone.utc)
with Session.batch_write() as batch:
    for i in range(int(sys.argv[2])):
        start = base + timedelta(minutes=45 * i)
        batch.save(sessions.build(user_id=1, project_id=str(uuid.uuid4()), start_time=start,
                                  end_time=start + timedelta(minutes=30)))
"""

COUNT = """
import sys
from chalicelib.local import stack
stack.configure_environment(int(sys.argv[1]))
from chalicelib.store.sessions import Session
print(Session.count())
"""


def free_port() -> int:
    """A port free on 127.0.0.1 now: the bench's one way to pick one (import it, do not copy it)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TEMPORALIST_"))}


def _start(data_dir: str, timeout: float = 120.0) -> tuple[subprocess.Popen, int, float]:
    """The stack on free ports; (process, embedded AWS port, seconds until ``ready``)."""
    aws_port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local", "--port", str(free_port()),
         "--aws-port", str(aws_port), "--data-dir", data_dir],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = started + timeout
    for line in process.stdout:
        if "ready" in line:
            return process, aws_port, time.perf_counter() - started
        if time.perf_counter() > deadline:
            break
    process.kill()
    raise RuntimeError("the local stack did not start")


def _python(code: str, *args: object) -> str:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=_env(),
                          check=True, capture_output=True, text=True, timeout=600).stdout


def _stop(process: subprocess.Popen, sig: int) -> None:
    process.send_signal(sig)
    process.communicate(timeout=120)


def measure(sessions: int = SESSIONS) -> dict:
    """Seconds to ``ready`` after a kill -9 (journal replay) and after a clean stop (snapshot)."""
    with tempfile.TemporaryDirectory(prefix="temporalist-bench-") as data_dir:
        process, aws_port, first = _start(data_dir)
        _python(SEED, aws_port, sessions)
        journal = (Path(data_dir) / "journal.jsonl").stat().st_size
        _stop(process, signal.SIGKILL)
        process, aws_port, after_kill = _start(data_dir)
        counted_after_kill = int(_python(COUNT, aws_port))
        _stop(process, signal.SIGTERM)
        snapshot = (Path(data_dir) / "snapshot.json").stat().st_size
        process, aws_port, after_stop = _start(data_dir)
        counted_after_stop = int(_python(COUNT, aws_port))
        _stop(process, signal.SIGTERM)
    return {"sessions": sessions, "empty_start": first, "after_kill": after_kill,
            "after_stop": after_stop, "journal_bytes": journal, "snapshot_bytes": snapshot,
            "counted": (counted_after_kill, counted_after_stop), "target": TARGET_SECONDS}


def report_lines(result: dict) -> list[str]:
    """The BENCHMARKS.md section."""
    ok = max(result["after_kill"], result["after_stop"]) < result["target"]
    kept = all(n == result["sessions"] for n in result["counted"])
    return [
        f"`make run` keeps its data in `.local/`; start-up time with {result['sessions']:,}"
        " sessions stored, from process start to the `ready` line (one run each):",
        "",
        "| start | seconds to ready | read at start |",
        "|---|---|---|",
        f"| empty data directory | {result['empty_start']:.1f} | nothing |",
        f"| after `kill -9` | {result['after_kill']:.1f} | snapshot + journal of"
        f" {result['journal_bytes'] / 1e6:.1f} MB |",
        f"| after a clean stop (SIGTERM) | {result['after_stop']:.1f} | snapshot of"
        f" {result['snapshot_bytes'] / 1e6:.1f} MB |",
        "",
        f"Under {result['target']:.0f} s: **{'yes' if ok else 'no'}**. Every session there"
        f" after both restarts: **{'yes' if kept else 'no'}** ({result['counted'][0]:,} and"
        f" {result['counted'][1]:,} counted).",
    ]


if __name__ == "__main__":
    measured = measure(int(sys.argv[1]) if len(sys.argv) > 1 else SESSIONS)
    print("\n".join(report_lines(measured)))
