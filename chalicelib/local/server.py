"""The local HTTP front: a threaded server on 127.0.0.1 handing each request to the local gateway.

It answers every request the way the production front (API Gateway) would, never with
the standard library's HTML pages: any method reaches the gateway (which answers 405 or
404 in JSON), a request target in absolute form (``GET http://host/path``) is served by
its path alone, so no host a client names can reach a response, and a request the
server cannot parse gets a JSON 400 (or 414, 431, 505).
"""
from __future__ import annotations

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

from chalicelib import errors
from chalicelib.gateway import MAX_PAYLOAD_BYTES
from chalicelib.local.gateway import LocalGateway

# RFC 9110's token: what a method name may be made of.
METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
LISTEN_BACKLOG = 128  # connections the kernel queues before accept(); bursts of 64 and more
# How often serve_forever looks for a stop request: stop() waits up to this long (the
# standard library's 0.5 s made each test's server take a quarter second to stop).
POLL_SECONDS = 0.05


class ProtocolError(errors.ApiError):
    """A request the HTTP layer refuses before any route sees it (bad syntax, sizes, version)."""

    DETAILS = {HTTPStatus.BAD_REQUEST: errors.BadRequest.default_detail,
               HTTPStatus.REQUEST_URI_TOO_LONG: "Request URI too long.",
               HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "Request header fields too large.",
               HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "HTTP version not supported."}

    def __init__(self, status: int):
        self.status_code = int(status)
        super().__init__(self.DETAILS.get(status, HTTPStatus(status).phrase + "."))


class _BadRequest(Exception):
    """The request's framing is malformed (its target, length or chunks)."""


class _TooLarge(Exception):
    """The body is over API Gateway's payload limit (answered without reading it)."""


class _Handler(BaseHTTPRequestHandler):
    gateway: LocalGateway
    protocol_version = "HTTP/1.1"
    server_version = "Temporalist-Local/1.0"

    def __getattr__(self, name: str) -> Callable[[], None]:
        # The standard library dispatches to do_<METHOD> and answers 501 in HTML when there
        # is none; every method goes to the gateway instead, as API Gateway takes them all.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        try:
            if not METHOD.fullmatch(self.command) or self.request_version == "HTTP/0.9":
                raise _BadRequest("method or version")
            target = _origin_form(self.path)
            body = self._read_body()
        except _BadRequest:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return
        except _TooLarge:
            self.close_connection = True  # the rest of the body is not read
            body, result = None, self.gateway.payload_too_large()
        else:
            headers = {name: value for name, value in self.headers.items()}
            result = self.gateway.handle(self.command, target, headers, body)
        self.send_response(result.status_code)
        for name, value in result.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    def _read_body(self) -> bytes | None:
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _BadRequest("transfer-encoding")
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        if not length.strip().isdigit():
            raise _BadRequest("content-length")
        size = int(length)
        if size > MAX_PAYLOAD_BYTES:
            raise _TooLarge()
        return self.rfile.read(size) if size else None

    def _read_chunked(self) -> bytes:
        chunks, received = [], 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("chunk size") from None
            if size == 0:
                break
            received += size
            if received > MAX_PAYLOAD_BYTES:
                raise _TooLarge()
            chunks.append(self.rfile.read(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest("chunk end")
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailer fields: nothing here reads them
        return b"".join(chunks)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A JSON error body (the standard library writes HTML; API Gateway writes JSON).

        The client's words (``message``, e.g. its request line) are logged, never echoed.
        """
        self.log_error("code %d, message %s", code, message or HTTPStatus(code).phrase)
        status, headers, body = errors.error_payload(ProtocolError(code))
        data = body.encode()
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the default when the request line is garbage
            self.request_version = "HTTP/1.0"  # so a status line and headers are sent
        self.send_response(status)
        self.send_header("Connection", "close")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        # Request lines only: headers (and so keys) are never logged.
        if getattr(self.server, "quiet", False):
            return
        super().log_message(format, *args)


def _origin_form(target: str) -> str:
    """The path and query of a request target; an absolute-form target loses its host."""
    if not target.startswith("/"):
        parts = urlsplit(target)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise _BadRequest("target")  # "*" or authority-form: nothing API Gateway serves
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if target.startswith("//"):  # read as "//host/path" by URL parsers: keep one slash
        target = "/" + target.lstrip("/")
    return target


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG


class LocalApiServer:
    """Serves the app on ``host:port`` in a background thread until :meth:`stop`."""

    def __init__(self, gateway: LocalGateway, host: str = "127.0.0.1", port: int = 8000,
                 quiet: bool = False):
        handler = type("Handler", (_Handler,), {"gateway": gateway})
        self.httpd = _Server((host, port), handler)
        self.httpd.quiet = quiet
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(POLL_SECONDS,),
                                        daemon=True, name="local-api")

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
