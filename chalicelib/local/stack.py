"""``make run``: embedded AWS (moto) on 127.0.0.1, tables and queues, a demo account, the API.

Everything runs in this one process and stops on Ctrl-C (or SIGTERM). The operator CLI
reaches the same embedded AWS through ``AWS_ENDPOINT_URL``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Callable, Sequence

DEMO_ORGANISATION = "Dunder Mifflin"
DEMO_PREFIX = "DMI"
DEMO_EMAIL = "michael.scott@dundermifflin.example"


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


def start_embedded_aws(port: int):
    """moto's server in a thread on 127.0.0.1:port (imported late: tests and the CLI skip it)."""
    from chalicelib.local.embedded_aws import EmbeddedAws
    return EmbeddedAws(port).start()


def bootstrap() -> None:
    from chalicelib.events import queue
    from chalicelib.store import tables
    tables.create_tables()
    queue.create_queues()


def create_demo_account() -> tuple[int, int, str]:
    """The demo organisation, its Pro user and a write key: (org id, user id, token)."""
    from chalicelib.store import accounts
    organisation = accounts.create_organisation(DEMO_ORGANISATION, DEMO_PREFIX)
    user = accounts.create_user(DEMO_EMAIL, organisation.id, "pro")
    _, token = accounts.create_key(user.id, "Local demo", "write")
    return int(organisation.id), int(user.id), token


def start_background_workers() -> list[Callable[[], None]]:
    """Workers that run beside the API (the webhook poller); returns their stop functions."""
    try:
        from chalicelib.local import poller
    except ImportError:
        return []
    return [poller.start_poller()]


def run(port: int, aws_port: int, stop: threading.Event | None = None,
        print_: Callable[[str], None] = print) -> None:
    stop = stop or threading.Event()
    endpoint = configure_environment(aws_port)
    moto = start_embedded_aws(aws_port)
    stoppers: list[Callable[[], None]] = [moto.stop]
    try:
        bootstrap()
        org_id, user_id, token = create_demo_account()
        from app import app
        from chalicelib.local.gateway import LocalGateway
        from chalicelib.local.server import LocalApiServer
        server = LocalApiServer(LocalGateway(app), "127.0.0.1", port).start()
        stoppers.insert(0, server.stop)
        stoppers[:0] = start_background_workers()
        base = f"http://localhost:{port}/api/v1"
        print_(f"Embedded AWS on {endpoint}; for the operator CLI in another shell:")
        print_(f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=local "
               "AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1")
        print_(f"Demo organisation {DEMO_ORGANISATION!r} (id {org_id}, prefix {DEMO_PREFIX}), "
               f"Pro user {DEMO_EMAIL} (id {user_id})")
        print_(f"API key (write scope, shown once): {token}")
        print_(f'  curl {base}/me/ -H "Authorization: Bearer {token}"')
        print_(f"API ready on {base} - Ctrl-C to stop")
        stop.wait()
    finally:
        for stopper in stoppers:
            stopper()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("AWS_PORT", 4566)))
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from chalicelib import observability  # JSON lines, as the functions print them on Lambda
    observability.configure_logging(observability.stage_log_level("local"))
    for noisy in ("pynamodb", "botocore"):  # their start-up chatter, not the requests
        logging.getLogger(noisy).setLevel(logging.WARNING)
    run(args.port, args.aws_port, stop, print_=lambda line: print(line, flush=True))
    print("stopped", flush=True)
    return 0
