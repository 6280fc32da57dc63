"""Embedded AWS for the local stack and the tests: moto's server on 127.0.0.1, in a thread.

DynamoDB makes each conditional write atomic; moto's threaded server evaluates a
condition and applies the write in Python, where another request thread can slip in
between. So DynamoDB requests are served one at a time here (they take a millisecond),
while SQS long polls keep running beside them.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                           create_backend_app)
from werkzeug.serving import make_server


class _SerialisedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


class EmbeddedAws:
    """Start with :meth:`start`, stop with :meth:`stop`; listens on 127.0.0.1 only."""

    def __init__(self, port: int):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        app = _SerialisedDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", port, app, threaded=True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="embedded-aws")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "EmbeddedAws":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
