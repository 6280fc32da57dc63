"""The local HTTP server over real sockets: any method, any request target, malformed
requests and bursts of new connections get the JSON answers production gives."""
from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from chalicelib.api import docs
from chalicelib.local.server import LISTEN_BACKLOG, LocalApiServer
from chalicelib.schema import document

FOREIGN = "evil.example"
TIMEOUT = 10


@pytest.fixture
def server(gateway, aws):
    running = LocalApiServer(gateway, "127.0.0.1", 0, quiet=True).start()
    yield running
    running.stop()


def request(server, method: str, target: str, headers: dict | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request with the request line exactly as given (absolute-form included)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{server.port}", **(headers or {})}.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw(server, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Bytes sent as they are; the answer parsed."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def bearer(account) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


# -- methods ---------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["QUERY", "FOO"])
def test_a_method_the_server_does_not_know_gets_405_json_on_a_known_path(server, account,
                                                                          method):
    status, headers, body = request(server, method, "/api/v1/projects/", bearer(account))
    assert status == 405
    assert json.loads(body) == {"detail": f'Method "{method}" not allowed.'}
    assert headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert headers["Content-Type"] == "application/json"


def test_an_unknown_method_on_a_public_path_needs_no_key(server, aws):
    status, headers, body = request(server, "QUERY", "/api/v1/docs/")
    assert (status, json.loads(body)) == (405, {"detail": 'Method "QUERY" not allowed.'})
    assert headers["Allow"] == "GET, HEAD, OPTIONS"


def test_an_unknown_method_on_an_unknown_path_is_404(server, account):
    status, _, body = request(server, "FOO", "/api/v1/nowhere/", bearer(account))
    assert (status, json.loads(body)) == (404, {"detail": "Not found."})


def test_an_unknown_method_meets_the_key_and_scope_checks_like_put(server, make_account):
    read = bearer(make_account(scope="read", email="reader@example.com"))
    for headers in ({}, read):
        put = request(server, "PUT", "/api/v1/projects/", headers)
        foo = request(server, "FOO", "/api/v1/projects/", headers)
        assert put[0] in (401, 403)
        assert (foo[0], json.loads(foo[2])) == (put[0], json.loads(put[2]))


def test_a_method_that_is_not_a_token_is_a_json_400(server, aws):
    status, headers, body = raw(server, b"G(T /api/v1/docs/ HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, json.loads(body)) == (400, {"detail": "Bad request."})
    assert headers["Content-Type"] == "application/json"


# -- request targets and hosts -----------------------------------------------------------

@pytest.mark.parametrize("target", [
    f"http://{FOREIGN}/api/v1/docs/",
    f"https://{FOREIGN}:8443/api/v1/docs/",
    f"//{FOREIGN}/api/v1/docs/",
])
def test_no_foreign_host_reaches_the_docs_page(server, aws, target):
    status, _, body = request(server, "GET", target, {"Host": FOREIGN})
    assert FOREIGN not in body.decode()
    if status == 200:
        assert 'href="/api/v1/docs/swagger-ui.css"' in body.decode()
    else:
        assert (status, json.loads(body)) == (404, {"detail": "Not found."})


def test_an_absolute_form_target_is_served_by_its_path(server, aws):
    status, _, body = request(server, "GET",
                              f"http://{FOREIGN}/api/v1/openapi.json?format=json",
                              {"Host": FOREIGN, "X-Forwarded-Host": FOREIGN})
    assert status == 200
    assert FOREIGN not in body.decode()
    assert json.loads(body)["servers"] == [{"url": "/api/v1"}]


def test_an_absolute_form_target_with_a_key_reaches_its_route(server, account):
    status, _, body = request(server, "GET", f"http://{FOREIGN}/api/v1/me/", bearer(account))
    assert status == 200
    assert json.loads(body)["api_key_scope"] == "write"


@pytest.mark.parametrize("target", ["*", f"{FOREIGN}:443", f"ftp://{FOREIGN}/api/v1/docs/"])
def test_other_target_forms_are_a_json_400(server, aws, target):
    status, _, body = request(server, "GET", target)
    assert (status, json.loads(body)) == (400, {"detail": "Bad request."})
    assert FOREIGN not in body.decode()


def test_the_docs_base_ignores_what_is_not_a_stage():
    assert docs._base("/api/v1/docs", f"http://{FOREIGN}/api/v1/docs/", "/docs") == \
        ("/api/v1", "/api/v1")
    assert docs._base("/api/v1/docs", f"//{FOREIGN}/api/v1/docs", "/docs") == \
        ("/api/v1", "/api/v1")
    assert docs._base("/api/v1/docs", "/api/api/v1/docs/", "/docs") == ("/api/v1", "/api/api/v1")


def test_the_document_cache_keeps_the_most_recent_bases_only(monkeypatch):
    monkeypatch.setattr(document, "build", lambda routes, prefix: {"openapi": "3.1.0"})
    cache = document.DocumentCache()
    first = cache.render({}, "/api/v1", "/api/v1", "json")
    for n in range(cache.MAX_RENDERED * 3):
        cache.render({}, "/api/v1", f"/s{n}/api/v1", "json")
        cache.render({}, "/api/v1", "/api/v1", "json")  # kept while in use
    assert len(cache._rendered) == cache.MAX_RENDERED
    assert cache.render({}, "/api/v1", "/api/v1", "json") is first
    assert ("/s0/api/v1", "json") not in cache._rendered


# -- malformed requests ------------------------------------------------------------------

@pytest.mark.parametrize("data, status, detail", [
    (b"nonsense\r\n\r\n", 400, "Bad request."),
    (b"GET /api/v1/docs/ HTTP/x.y\r\n\r\n", 400, "Bad request."),
    (b"GET /api/v1/docs/ HTTP/2.0\r\n\r\n", 505, "HTTP version not supported."),
    # Over-long lines end exactly where the server stops reading (no unread bytes, no reset).
    (b"GET /" + b"a" * (65537 - 5), 414, "Request URI too long."),
    (b"GET /api/v1/docs/ HTTP/1.1\r\nX-Long: " + b"a" * (65537 - 8), 431,
     "Request header fields too large."),
    (b"POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400,
     "Bad request."),
    (b"POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
     "Bad request."),
])
def test_malformed_requests_get_json_not_html(server, aws, data, status, detail):
    got, headers, body = raw(server, data)
    assert (got, json.loads(body)) == (status, {"detail": detail})
    assert headers["Content-Type"] == "application/json"
    assert headers["Connection"] == "close"


def test_a_chunked_body_is_read(server, account):
    body = json.dumps({"name": "Chunked"}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:]))
    status, _, answer = raw(server, (
        "POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {account.token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n").encode() + chunked + b"0\r\n\r\n")
    assert status == 201, answer
    assert json.loads(answer)["name"] == "Chunked"


# -- bursts ------------------------------------------------------------------------------

BURST = 64


def test_a_burst_of_new_connections_is_all_answered(server, aws):
    """64 connections opened while the server accepts none: all queued, then all answered."""
    assert LISTEN_BACKLOG >= BURST
    results: list[object] = []
    connected = threading.Semaphore(0)
    lock = threading.Lock()
    release = threading.Event()
    accept = server.httpd.get_request

    def held_accept():
        release.wait(TIMEOUT)  # until then every new connection waits in the listen queue
        return accept()

    server.httpd.get_request = held_accept

    def client() -> None:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
                connected.release()
                sock.sendall(b"GET /api/v1/nowhere HTTP/1.1\r\nHost: x\r\n"
                             b"Connection: close\r\n\r\n")
                response = http.client.HTTPResponse(sock)
                response.begin()
                outcome: object = (response.status, json.loads(response.read()))
        except OSError as exc:  # a reset or a timeout: what a short listen queue gives
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for _ in range(BURST):
        if not connected.acquire(timeout=TIMEOUT):
            break
    release.set()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert results == [(404, {"detail": "Not found."})] * BURST


# -- payload limits: API Gateway's own, before the function's 1 MiB ---------------------------

def test_a_body_over_api_gateways_limit_is_its_413_without_being_read(server, account):
    from chalicelib.gateway import MAX_PAYLOAD_BYTES
    status, headers, answer = raw(server, (
        "POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {account.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {MAX_PAYLOAD_BYTES + 1}\r\n\r\n").encode() + b"{")
    assert (status, json.loads(answer)) == (413, {"detail": "Request body is too large."})
    assert headers["Content-Type"] == "application/json"


def test_a_body_between_1_mib_and_the_gateways_limit_is_the_functions_413(server, account):
    body = b'{"name": "x", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    status, _, answer = request(server, "POST", "/api/v1/projects/",
                                {**bearer(account), "Content-Type": "application/json"}, body)
    assert (status, json.loads(answer)) == (413, {"detail": "Request body is too large."})


# -- stopping ----------------------------------------------------------------------------

def test_a_server_stops_within_its_poll_interval(gateway):
    """stop() waits for serve_forever to look (every POLL_SECONDS), not the stdlib's 0.5 s."""
    import time
    waits = []
    for _ in range(4):
        running = LocalApiServer(gateway, "127.0.0.1", 0, quiet=True).start()
        started = time.perf_counter()
        running.stop()
        waits.append(time.perf_counter() - started)
    assert min(waits) < 0.25, waits  # the stdlib's poll would make each about 0.5 s
