"""Embedded AWS for the local stack and the tests: moto's server on 127.0.0.1, in a thread.

DynamoDB makes each conditional write atomic; moto's threaded server evaluates a
condition and applies the write in Python, where another request thread can slip in
between. So DynamoDB requests are served one at a time here (they take a millisecond),
while SQS long polls keep running beside them.

With a data directory (``make run``) its state is kept on disk (:mod:`.persistence`);
without one (the tests) it lives in memory only and ``/moto-api/reset`` empties it.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                           create_backend_app)
from werkzeug.serving import make_server

from chalicelib.local.persistence import Persistence, PersistingApp, Restored


class _SerialisedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]], lock: threading.RLock):
        self._app = app
        self._lock = lock

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


class EmbeddedAws:
    """Start with :meth:`start`, stop with :meth:`stop`; listens on 127.0.0.1 only.

    ``data_dir`` keeps the state on disk: :meth:`restore` (after the stack's tables and
    queues exist) loads what was saved there and starts journaling; ``fresh`` discards it.
    """

    def __init__(self, port: int, data_dir: Path | str | None = None, fresh: bool = False):
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        lock = threading.RLock()
        app: Callable[..., Iterable[bytes]] = DomainDispatcherApplication(create_backend_app)
        self.persistence: Persistence | None = None
        if data_dir is not None:
            self.persistence = Persistence(Path(data_dir), lock)
            self.persistence.open(fresh=fresh)
            app = PersistingApp(app, self.persistence)
        try:
            self._server = make_server("127.0.0.1", port, _SerialisedDynamoDB(app, lock),
                                       threaded=True, request_handler=MotoRequestHandler)
        except BaseException:
            if self.persistence is not None:
                self.persistence.close()
            raise
        if self.persistence is not None:
            self.persistence.endpoint = self.endpoint
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="embedded-aws")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "EmbeddedAws":
        self._thread.start()
        return self

    def restore(self) -> Restored | None:
        """Load the saved data into the running AWS; None when it keeps nothing on disk."""
        return self.persistence.restore() if self.persistence is not None else None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self.persistence is not None:
            self.persistence.close()
