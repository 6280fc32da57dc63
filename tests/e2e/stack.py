"""Start the real local stack (``python -m chalicelib.local``) in a subprocess on free ports."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    process: subprocess.Popen
    api_port: int
    aws_port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    owns_data_dir: bool = False  # a temporary directory, removed by stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def token(self) -> str:
        return next(m.group(0) for line in self.lines
                    if (m := re.search(r"tk_live_[a-z0-9]{8}_[a-z0-9]{32}", line)))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run the operator CLI against this stack's embedded AWS."""
        env = {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "TEMPORALIST_STAGE": "local",
               "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
               "AWS_DEFAULT_REGION": "us-east-1"}
        return subprocess.run([sys.executable, "-m", "chalicelib.admin", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)

    def terminate(self) -> int:
        """SIGTERM (what ``kill`` sends), then :meth:`stop`; the return code."""
        return self._signal_then_stop(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL (``kill -9``: nothing runs after it), then :meth:`stop`; the return code."""
        return self._signal_then_stop(signal.SIGKILL)

    def _signal_then_stop(self, sig: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass  # stop() insists
        return self.stop()

    def stop(self) -> int:
        """Ctrl-C (SIGINT) unless it has exited, wait for the exit; its return code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return self.process.returncode


def start_stack(api_port: int, aws_port: int, timeout: float = 60.0,
                data_dir: Path | None = None, fresh: bool = False) -> RunningStack:
    """The stack on these ports, keeping its data in ``data_dir`` (never the repository's
    ``.local/``: by default a new temporary directory that :meth:`RunningStack.stop` removes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TEMPORALIST_"))}
    owns = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="temporalist-stack-")) if owns else Path(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local", "--port", str(api_port),
         "--aws-port", str(aws_port), "--data-dir", str(data_dir),
         *(["--fresh"] if fresh else [])],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stack = RunningStack(process, api_port, aws_port, data_dir, owns_data_dir=owns)
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            stack.lines.append(line.rstrip("\n"))
            if "ready" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            reader.join(timeout=5)  # its last lines say why
            raise RuntimeError("local stack did not start:\n" + "\n".join(stack.lines))
    return stack
