"""The local HTTP front: a threaded server on 127.0.0.1 that hands each request to the local gateway."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.local.gateway import LocalGateway


class _Handler(BaseHTTPRequestHandler):
    gateway: LocalGateway
    protocol_version = "HTTP/1.1"
    server_version = "Temporalist-Local/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: value for name, value in self.headers.items()}
        result = self.gateway.handle(self.command, self.path, headers, body)
        self.send_response(result.status_code)
        for name, value in result.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
    do_TRACE = _serve  # answered like any method API Gateway has no route for

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        # Request lines only: headers (and so keys) are never logged.
        if getattr(self.server, "quiet", False):
            return
        super().log_message(format, *args)


class LocalApiServer:
    """Serves the app on ``host:port`` in a background thread until :meth:`stop`."""

    def __init__(self, gateway: LocalGateway, host: str = "127.0.0.1", port: int = 8000,
                 quiet: bool = False):
        handler = type("Handler", (_Handler,), {"gateway": gateway})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.httpd.quiet = quiet
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="local-api")

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> "LocalApiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
