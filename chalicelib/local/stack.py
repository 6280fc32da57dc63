"""``make run``: embedded AWS (moto) on 127.0.0.1, tables and queues, a demo account, the API.

Everything runs in this one process and stops on Ctrl-C (or SIGTERM). The data is kept
in a directory (``.local/`` by default) and found again at the next start; the demo
account is made on an empty store only. The operator CLI reaches the same embedded AWS
through ``AWS_ENDPOINT_URL``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

DEMO_ORGANISATION = "Dunder Mifflin"
DEMO_PREFIX = "DMI"
DEMO_EMAIL = "michael.scott@dundermifflin.example"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".local"


def configure_environment(aws_port: int) -> str:
    """Point boto3/PynamoDB at the embedded AWS with throwaway credentials."""
    endpoint = f"http://127.0.0.1:{aws_port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["TEMPORALIST_STAGE"] = "local"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from chalicelib import aws, config
    config.reset_settings()
    aws.reset_clients()
    return endpoint


def start_embedded_aws(port: int, data_dir: Path | str | None = None, fresh: bool = False):
    """moto's server in a thread on 127.0.0.1:port (imported late: tests and the CLI skip it).

    In memory unless ``data_dir`` is given; then call its ``restore()`` once the tables and
    queues exist.
    """
    from chalicelib.local.embedded_aws import EmbeddedAws
    return EmbeddedAws(port, data_dir, fresh).start()


def bootstrap(wait: bool = True) -> None:
    from chalicelib.services.bootstrap import bootstrap as create_infrastructure
    create_infrastructure(wait)


def create_demo_account() -> tuple[int, int, str]:
    """The demo organisation, its Pro user and a write key: (org id, user id, token)."""
    from chalicelib.domain.accounts import PRO_PLAN
    from chalicelib.services import accounts
    organisation = accounts.create_organisation(DEMO_ORGANISATION, DEMO_PREFIX)
    user = accounts.create_user(DEMO_EMAIL, organisation.id, PRO_PLAN)
    _, token = accounts.create_key(user.id, "Local demo", "write")
    return int(organisation.id), int(user.id), token


def start_background_workers() -> list[Callable[[], None]]:
    """Workers that run beside the API, as Lambda's event sources would: the change streams'
    reader (the events fan-out) and the webhook queue's; returns their stop functions, the
    streams' first (stopping it hands over what the streams still hold, to the queue)."""
    from chalicelib.local import poller, stream_poller
    return [stream_poller.start_stream_poller(), poller.start_poller()]


def run(port: int, aws_port: int, stop: threading.Event | None = None,
        print_: Callable[[str], None] = print, data_dir: Path | str | None = DEFAULT_DATA_DIR,
        fresh: bool = False) -> None:
    stop = stop or threading.Event()
    endpoint = configure_environment(aws_port)
    moto = start_embedded_aws(aws_port, data_dir, fresh)
    # Stopped in this order: no new writes, then what the streams hold is fanned out to
    # the queue, then the workers, then the embedded AWS (which saves the queue).
    stoppers: list[Callable[[], None]] = [moto.stop]
    try:
        if moto.persistence is not None:  # kept with the data, under its lock
            from chalicelib import config
            os.environ["TEMPORALIST_CURSOR_SECRET"] = moto.persistence.cursor_secret()
            config.reset_settings()
        bootstrap()
        restored = moto.restore()
        demo = None
        if restored is None or restored.empty:
            demo = create_demo_account()
            if moto.persistence is not None:
                moto.persistence.note("demo", {"user_id": demo[1]})
        from app import app
        from chalicelib.local.gateway import LocalGateway
        from chalicelib.local.server import LocalApiServer
        stoppers[:0] = start_background_workers()
        server = LocalApiServer(LocalGateway(app), "127.0.0.1", port).start()
        stoppers.insert(0, server.stop)
        base = f"http://localhost:{port}/api/v1"
        print_(f"Embedded AWS on {endpoint}; for the operator CLI in another shell:")
        print_(f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=local "
               "AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1")
        for line in _data_lines(restored, demo, base):
            print_(line)
        print_(f"API ready on {base} - Ctrl-C to stop")
        stop.wait()
    finally:
        for stopper in stoppers:
            stopper()


def _data_lines(restored, demo: tuple[int, int, str] | None, base: str) -> list[str]:
    """The banner's data and account part: the new demo key, or how to get a key again."""
    if restored is None:
        lines = ["Data: in memory only, lost at exit"]
    elif restored.empty:
        lines = [f"Data: new store in {restored.directory} (kept across restarts; "
                 "make run FRESH=1 starts empty)"]
    else:
        lines = [f"Data: reused {restored.directory}: {restored.items} items in "
                 f"{restored.tables} tables, {restored.messages} queued messages "
                 "(make run FRESH=1 starts empty)"]
    if demo is not None:
        org_id, user_id, token = demo
        return lines + [
            f"Demo organisation {DEMO_ORGANISATION!r} (id {org_id}, prefix {DEMO_PREFIX}), "
            f"Pro user {DEMO_EMAIL} (id {user_id})",
            f"API key (write scope, shown once): {token}",
            f'  curl {base}/me/ -H "Authorization: Bearer {token}"']
    user_id = restored.notes.get("demo", {}).get("user_id", "<user id>")
    return lines + [
        f"Demo user {DEMO_EMAIL} (id {user_id}) kept; its key was shown when it was made. "
        "A new key, with the export line above:",
        f'  .venv/bin/python -m chalicelib.admin create-key {user_id} --name "Local key" '
        "--scope write"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("AWS_PORT", 4566)))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="where the data is kept across restarts (default: %(default)s)")
    parser.add_argument("--fresh", action="store_true",
                        help="remove the saved data first and start empty")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from chalicelib import observability  # JSON lines, as the functions print them on Lambda
    observability.configure_logging(observability.stage_log_level("local"))
    for noisy in ("pynamodb", "botocore"):  # their start-up chatter, not the requests
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from chalicelib.local.persistence import DataDirError
    try:
        run(args.port, args.aws_port, stop, print_=lambda line: print(line, flush=True),
            data_dir=args.data_dir, fresh=args.fresh)
    except DataDirError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print("stopped", flush=True)
    return 0
