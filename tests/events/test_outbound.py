"""Outbound-URL safety and the one POST of a delivery.

No test touches real DNS or any address off this machine: resolvers are injected, and the
servers are started on 127.0.0.1 by fixtures that stop them (every server loop is bounded).
"""
import http.server
import inspect
import ipaddress
import socket
import socketserver
import ssl
import sys
import threading
import time

import pytest

from chalicelib.errors import ValidationError
from chalicelib.events import outbound
from chalicelib.events.outbound import (BlockedAddress, check_target_url, default_resolver,
                                        is_blocked, post_once, resolve_safe)
from chalicelib.events.signing import sign
from tests.conftest import free_port

PUBLIC_IP = "93.184.215.14"
INVALID = {"target_url": ["Enter a valid HTTPS URL."]}


def resolver_for(mapping):
    """A resolver answering from ``mapping`` and recording each call."""
    def resolve(host, port):
        resolve.calls.append((host, port))
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(mapping[host])
    resolve.calls = []
    return resolve


NAMES = resolver_for({
    "example.com": [PUBLIC_IP],
    "hooks.example.com": [PUBLIC_IP],
    "localhost": ["127.0.0.1"],
    "internal.test": ["10.1.2.3"],
    "mixed.test": [PUBLIC_IP, "10.0.0.7"],
    "metadata.test": ["169.254.169.254"],
    "v6private.test": ["2606:2800:220:1:248:1893:25c8:1946", "fd12::1"],
    "nat64private.test": ["64:ff9b::a00:1"],
    "empty.test": [],
})


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried a real DNS lookup")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def errors_of(url, **kwargs):
    with pytest.raises(ValidationError) as caught:
        check_target_url(url, resolver=NAMES, **kwargs)
    return caught.value.errors


# --- creation-time checks -------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://example.com",
    "https://127.0.0.1",
    "https://localhost",
    "https://[::1]",
    "https://169.254.169.254",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1",
    "https://100.64.0.1",
    "https://[fd00::1]",
    "https://[::ffff:10.0.0.1]",
    "https://[::ffff:7f00:1]",
    "https://93.184.215.14",            # any IP literal, even a public one
    "https://[2606:2800:220:1:248:1893:25c8:1946]",
    "https://2130706433",
    "https://0x7f.1",
    "https://017700000001",
    "https://127.1",
    "https://0x7f000001",
    "https://127.0.0.1.",
    "https://1.2.3.999",
    "https://%31%32%37.0.0.1",
    "https://１２７.０.０.１",           # full-width digits, IDNA-mapped to 127.0.0.1
    "https://user:pw@example.com",
    "https://user@example.com",
    "https://@example.com",
    "ftp://example.com",
    "javascript:alert(1)",
    "https://",
    "https:///path",
    "https:example.com",
    "//example.com/x",
    "example.com",
    "",
    "https://example.com:0/",
    "https://example.com:99999/",
    "https://example.com:abc/",
    "https://exa mple.com/",
    "https://example.com/a b",
    "https://example.com/\r\nX-Injected: 1",
    "https://example.com\\@evil.test/",
    "https://[::1",
    "https://a..b/",
    "https://nowhere.test/x",           # does not resolve
    "https://empty.test/x",             # resolves to nothing
    "https://hooks.example.com/" + "a" * (2049 - len("https://hooks.example.com/")),
])
def test_invalid_target_urls(url):
    errors = errors_of(url)
    assert list(errors) == ["target_url"] and len(errors["target_url"]) == 1
    assert errors["target_url"][0].startswith("Enter a valid HTTPS URL.")
    if "localhost" not in url:  # the one matrix name that resolves; the message names 127.0.0.1
        assert errors == INVALID


@pytest.mark.parametrize("host", ["2130706433", "999", "0x7f.1", "0x", "1.2.3.999",
                                  "example.0x1f", "example.123", "127.0.0.1.", "0177.0.0.1"])
def test_numeric_hosts_are_refused_before_resolution(host):
    resolve = lambda name, port: resolve.calls.append(name) or [PUBLIC_IP]  # noqa: E731
    resolve.calls = []
    with pytest.raises(ValidationError) as caught:
        check_target_url(f"https://{host}/x", resolver=resolve)
    assert caught.value.errors == INVALID
    assert resolve.calls == []


@pytest.mark.parametrize("value", [None, 42, b"https://hooks.example.com/x", ["https://x"]])
def test_non_strings_are_invalid(value):
    assert errors_of(value) == INVALID


@pytest.mark.parametrize("host, address", [
    ("internal.test", "10.1.2.3"),
    ("localhost", "127.0.0.1"),
    ("mixed.test", "10.0.0.7"),
    ("metadata.test", "169.254.169.254"),
    ("v6private.test", "fd12::1"),
    ("nat64private.test", "64:ff9b::a00:1"),
])
def test_a_name_resolving_to_a_blocked_address_names_it(host, address):
    assert errors_of(f"https://{host}/hook") == {"target_url": [
        f"Enter a valid HTTPS URL. {host} resolves to a blocked address ({address})."]}


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/x",
    "https://hooks.example.com",
    "https://HOOKS.Example.COM:8443/x?y=1#frag",
    "https://hooks.example.com./x",
    "https://hooks.example.com/" + "a" * (2048 - len("https://hooks.example.com/")),
])
def test_valid_target_urls(url):
    assert check_target_url(url, resolver=NAMES) is None


def test_resolution_uses_the_ascii_host_and_the_port():
    resolve = resolver_for({"hooks.example.com": [PUBLIC_IP], "xn--caf-dma.test": [PUBLIC_IP]})
    check_target_url("https://Hooks.Example.com:8443/x", resolver=resolve)
    check_target_url("https://café.test/x", resolver=resolve)
    assert resolve.calls == [("hooks.example.com", 8443), ("xn--caf-dma.test", 443)]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/x",
    "https://127.0.0.1/x",
    "http://127.5.6.7/x",
    "http://[::1]:8080/x",
    "http://localhost:8080/x",
    "https://hooks.example.com/x",
])
def test_local_stage_allows_http_and_loopback(url):
    assert check_target_url(url, allow_insecure=True, resolver=NAMES) is None


@pytest.mark.parametrize("url", [
    "http://10.0.0.1",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://127.1/",
    "http://93.184.215.14/",
    "http://internal.test/",
    "ftp://localhost/",
])
def test_local_stage_still_blocks_everything_else(url):
    with pytest.raises(ValidationError):
        check_target_url(url, allow_insecure=True, resolver=NAMES)


# --- the address rules ----------------------------------------------------------------

BLOCKED = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.254",
    "0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "192.0.0.9", "192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1", "192.88.99.1",
    "::", "::1", "::127.0.0.1", "fe80::1", "fe80::1%1", "fc00::1", "fd00::1", "fec0::1",
    "ff02::1", "2001:db8::1", "3fff::1", "100::1", "5f00::1",
    "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "::ffff:93.184.215.14",           # transition forms are refused whatever they embed
    "2002:a00:1::1", "2002:7f00:1::1", "2002:5db8:d70e::1",
    "64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::5db8:d70e",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
GLOBAL = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946",
          "2a00:1450:4001:82b::200e", "64:ff9b::5db8:d70e"]  # NAT64 of a public address


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address):
    assert is_blocked(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses(address):
    ip = ipaddress.ip_address(address)
    assert not is_blocked(ip, allow_loopback=False)
    assert not is_blocked(ip, allow_loopback=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1"])
def test_allow_loopback_unblocks_loopback(address):
    assert not is_blocked(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize("address", [a for a in BLOCKED if a not in ("127.0.0.1",
                                                                    "127.255.255.254", "::1")])
def test_allow_loopback_unblocks_nothing_else(address):
    assert is_blocked(ipaddress.ip_address(address), allow_loopback=True)


def test_resolve_safe_returns_every_checked_address():
    resolve = resolver_for({"two.test": [PUBLIC_IP, "2606:2800:220:1:248:1893:25c8:1946"]})
    assert resolve_safe("two.test", 443, allow_loopback=False, resolver=resolve) == [
        PUBLIC_IP, "2606:2800:220:1:248:1893:25c8:1946"]
    assert resolve.calls == [("two.test", 443)]


@pytest.mark.parametrize("host, address", [("mixed.test", "10.0.0.7"),
                                           ("localhost", "127.0.0.1")])
def test_resolve_safe_raises_blocked_address(host, address):
    with pytest.raises(BlockedAddress) as caught:
        resolve_safe(host, 443, allow_loopback=False, resolver=NAMES)
    assert caught.value.address == address
    assert isinstance(caught.value, ValueError)
    assert address in str(caught.value)


def test_resolve_safe_allows_loopback_only_when_asked():
    assert resolve_safe("localhost", 80, allow_loopback=True, resolver=NAMES) == ["127.0.0.1"]


def test_resolve_safe_refuses_a_non_address():
    with pytest.raises(BlockedAddress):
        resolve_safe("odd.test", 443, allow_loopback=True,
                     resolver=resolver_for({"odd.test": ["not-an-ip"]}))


@pytest.mark.parametrize("host", ["nowhere.test", "empty.test"])
def test_resolve_safe_raises_oserror_for_a_name_without_addresses(host):
    with pytest.raises(OSError):
        resolve_safe(host, 443, allow_loopback=False, resolver=NAMES)


def test_default_resolver_uses_getaddrinfo_and_removes_duplicates(monkeypatch):
    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        assert (host, port, type) == ("hooks.example.com", 443, socket.SOCK_STREAM)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, 443)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800::1", 443, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, 443))]
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert default_resolver("hooks.example.com", 443) == [PUBLIC_IP, "2606:2800::1"]


# --- post_once against servers on 127.0.0.1 ---------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    def server_bind(self):  # HTTPServer's would look up our FQDN
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        # the slow answers are meant to outlast the sender's timeout: its hang-up is expected
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """A webhook receiver on 127.0.0.1; the path picks how it answers."""

    def __init__(self, tls_context=None):
        self.requests = []
        self.stop = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append({"path": self.path, "headers": self.headers,
                                          "body": self.rfile.read(length)})
                getattr(self, "answer_" + self.path.strip("/").split("?")[0])()

            def reply(self, status, body=b"", **headers):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def answer_ok(self):
                self.reply(200, b"thanks")

            def answer_long(self):  # 3,000 characters of 4 UTF-8 bytes each
                self.reply(200, ("\U0001F600" * 3000).encode(), Content_Type="text/plain")

            def answer_latin(self):  # a declared charset other than UTF-8
                self.reply(400, "déjà vu".encode("latin-1"),
                           Content_Type="text/plain; charset=iso-8859-1")

            def answer_garbage(self):  # bytes that are not UTF-8 at all
                self.reply(200, b"ok \xff\xfe end")

            def answer_rot13(self):  # codecs Python knows that are no charsets at all
                self.reply(200, b"abc", Content_Type="text/plain; charset=rot13")

            def answer_base64(self):
                self.reply(200, b"!!!", Content_Type="text/plain; charset=base64")

            def answer_zlib(self):
                self.reply(500, b"not zlib", Content_Type="text/plain; charset=zlib")

            def answer_empty(self):
                self.reply(204)

            def answer_fail(self):
                self.reply(500, b"oops")

            def answer_redirect(self):
                self.reply(302, Location=f"http://127.0.0.1:{receiver.port}/target")

            def answer_target(self):
                self.reply(200)

            def answer_slow(self):
                receiver.stop.wait(5)  # longer than the client's timeout; ends at teardown
                self.reply(200)

            def answer_trickle(self):  # a huge body, 1 KiB at a time, for at most 10 s
                self.send_response(200)
                self.send_header("Content-Length", str(100 * 1024 * 1024))
                self.end_headers()
                for _ in range(200):
                    if receiver.stop.wait(0.05):
                        return
                    self.wfile.write(b"x" * 1024)
                    self.wfile.flush()

            def answer_endless(self):  # 64 KiB at once, then a body that never ends (≤ 10 s)
                self.send_response(200)
                self.send_header("Content-Length", str(100 * 1024 * 1024))
                self.end_headers()
                self.wfile.write(b"x" * 65536)
                self.wfile.flush()
                for _ in range(200):
                    if receiver.stop.wait(0.05):
                        return
                    self.wfile.write(b"x")
                    self.wfile.flush()

        self.server = _Server(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path, host="127.0.0.1", scheme="http"):
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def delivery_headers(body):
    return {
        "Content-Type": "application/json",
        "User-Agent": "Temporalist-Webhook/1.0",
        "X-Temporalist-Event": "session.closed",
        "X-Temporalist-Delivery": "f0e1d2c3-b4a5-4697-8889-0a1b2c3d4e5f",
        "X-Temporalist-Signature": sign("ab" * 32, 1781434200, body),
    }


BODY = '{"event": "session.closed", "data": {"description": "Café"}}'.encode()


def test_post_once_sends_the_exact_body_and_headers(receiver):
    headers = delivery_headers(BODY)
    result = post_once(receiver.url("/ok?x=1"), BODY, headers, allow_insecure=True)
    assert (result.status, result.error, result.body) == (200, None, "thanks")
    assert result.succeeded
    assert ("Content-Length", "6") in result.headers
    [seen] = receiver.requests
    assert seen["path"] == "/ok?x=1"
    assert seen["body"] == BODY
    for name, value in headers.items():
        assert seen["headers"].get_all(name) == [value]
    assert seen["headers"]["Host"] == f"127.0.0.1:{receiver.port}"
    assert seen["headers"]["Content-Length"] == str(len(BODY))


def test_post_once_connects_to_the_checked_address_with_the_original_host(receiver):
    resolve = resolver_for({"receiver.test": ["127.0.0.1"]})
    result = post_once(receiver.url("/ok", host="receiver.test"), BODY, {},
                       allow_insecure=True, resolver=resolve)
    assert result.status == 200
    assert resolve.calls == [("receiver.test", receiver.port)]  # resolved once, not again
    assert receiver.requests[0]["headers"]["Host"] == f"receiver.test:{receiver.port}"


def test_post_once_keeps_the_first_2048_characters_of_the_answer(receiver):
    result = post_once(receiver.url("/long"), BODY, {}, allow_insecure=True)
    assert result.body == "\U0001F600" * 2048  # characters, not bytes: 8 KiB of UTF-8


@pytest.mark.parametrize("path, status, body", [
    ("/latin", 400, "déjà vu"), ("/garbage", 200, "ok \ufffd\ufffd end"), ("/empty", 204, ""),
    ("/rot13", 200, "abc"), ("/base64", 200, "!!!"), ("/zlib", 500, "not zlib")])
def test_post_once_decodes_the_answer_by_its_charset(receiver, path, status, body):
    result = post_once(receiver.url(path), BODY, {}, allow_insecure=True)
    assert (result.status, result.body, result.error) == (status, body, None)


def test_post_once_returns_a_server_error_status(receiver):
    result = post_once(receiver.url("/fail"), BODY, {}, allow_insecure=True)
    assert (result.status, result.error, result.body, result.succeeded) == (
        500, None, "oops", False)


def test_post_once_does_not_follow_redirects(receiver):
    result = post_once(receiver.url("/redirect"), BODY, {}, allow_insecure=True)
    assert (result.status, result.error, result.succeeded) == (302, None, False)
    assert ("Location", f"http://127.0.0.1:{receiver.port}/target") in result.headers
    assert [r["path"] for r in receiver.requests] == ["/redirect"]


def test_post_once_gives_up_on_a_slow_receiver(receiver):
    started = time.monotonic()
    result = post_once(receiver.url("/slow"), BODY, {}, timeout=0.5, allow_insecure=True)
    assert (result.status, result.error, result.headers, result.body) == (
        None, "timeout", None, None)
    assert 450 <= result.duration_ms < 1500
    assert time.monotonic() - started < 0.5 + 1.0


def test_post_once_keeps_the_status_when_the_body_trickles_past_the_deadline(receiver):
    started = time.monotonic()
    result = post_once(receiver.url("/trickle"), BODY, {}, timeout=0.5, allow_insecure=True,
                       max_response_bytes=100 * 1024 * 1024)
    assert (result.status, result.error) == (200, None)
    assert 0 < len(result.body) <= 2048 and set(result.body) == {"x"}
    assert time.monotonic() - started < 0.5 + 1.0


def test_post_once_reads_at_most_max_response_bytes(receiver):
    started = time.monotonic()
    result = post_once(receiver.url("/endless"), BODY, {}, timeout=5, allow_insecure=True,
                       max_response_bytes=1024)
    assert result.status == 200
    assert result.body == "x" * 1024
    assert time.monotonic() - started < 2.0  # stopped reading at 1 KiB, not at the deadline


def test_post_once_returns_none_for_a_closed_port():
    result = post_once(f"http://127.0.0.1:{free_port()}/x", BODY, {}, allow_insecure=True)
    assert (result.status, result.error, result.body) == (None, "connection refused", None)


class RawListener:
    """A TCP listener on 127.0.0.1 that counts connections and runs ``serve`` on each."""

    def __init__(self, serve=None):
        self.accepted = 0
        self.stop = threading.Event()
        self.serve = serve
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            with conn:
                if self.serve:
                    try:
                        self.serve(conn, self.stop)
                    except OSError:
                        pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def raw_listener():
    made = []

    def make(serve=None):
        made.append(RawListener(serve))
        return made[-1]
    yield make
    for listener in made:
        listener.close()


def test_a_blocked_address_never_opens_a_socket(raw_listener):
    listener = raw_listener()
    resolve = resolver_for({"evil.test": ["127.0.0.1"]})
    result = post_once(f"https://evil.test:{listener.port}/x", BODY, {}, resolver=resolve)
    assert (result.status, result.error) == (None, "blocked address")
    time.sleep(0.2)
    assert listener.accepted == 0


def test_a_blocked_literal_never_opens_a_socket(raw_listener):
    listener = raw_listener()
    assert post_once(f"https://127.0.0.1:{listener.port}/x", BODY, {}).error == "blocked address"
    assert post_once(f"http://127.0.0.1:{listener.port}/x", BODY, {}).error == "invalid URL"
    time.sleep(0.2)
    assert listener.accepted == 0


def test_a_trickled_status_line_is_cut_off_at_the_deadline(raw_listener):
    def trickle(conn, stop):  # one header byte every 0.1 s: no single read ever times out
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(100):
            if stop.wait(0.1):
                return
            conn.sendall(b"X")
    listener = raw_listener(trickle)
    started = time.monotonic()
    result = post_once(f"http://127.0.0.1:{listener.port}/x", BODY, {}, timeout=0.5,
                       allow_insecure=True)
    assert (result.status, result.error) == (None, "timeout")
    assert time.monotonic() - started < 0.5 + 1.0


def test_a_slow_resolver_counts_against_the_deadline():
    release = threading.Event()

    def slow(host, port):
        release.wait(3)
        return ["127.0.0.1"]
    started = time.monotonic()
    try:
        result = post_once("http://slow.test/x", BODY, {}, timeout=0.5, allow_insecure=True,
                           resolver=slow)
        assert (result.status, result.error) == (None, "timeout")
        assert time.monotonic() - started < 0.5 + 1.0
    finally:
        release.set()


@pytest.mark.parametrize("url, reason", [
    ("https://nowhere.test/x", "name not resolved"), ("not a url", "invalid URL"),
    ("https://10.0.0.1/x", "blocked address"), ("https://internal.test/x", "blocked address")])
def test_post_once_gives_the_reason_for_a_refused_target(url, reason):
    result = post_once(url, BODY, {}, resolver=NAMES)
    assert (result.status, result.error, result.headers, result.body) == (None, reason, None,
                                                                          None)


def test_the_default_timeout_is_eight_seconds():
    assert inspect.signature(post_once).parameters["timeout"].default == 8.0


def test_the_default_response_limit_is_64_kib():
    assert inspect.signature(post_once).parameters["max_response_bytes"].default == 64 * 1024


# --- TLS: SNI and verification against the URL's hostname, on the pinned address ---------

@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A test CA and a server certificate for hooks.test, made on the spot."""
    pytest.importorskip("cryptography")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, key, signing_key, *, ca, san=None):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test CA", "Test CA", ca_key, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate("hooks.test", "Test CA", key, ca_key, ca=False, san="hooks.test")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
    return folder


@pytest.fixture
def tls_receiver(certificates):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem")
    context.server_names = []
    context.sni_callback = lambda sslobj, name, ctx: context.server_names.append(name)
    server = Receiver(tls_context=context)
    server.server_names = context.server_names
    yield server
    server.close()


@pytest.fixture
def trust_test_ca(certificates):
    return ssl.create_default_context(cafile=str(certificates / "ca.pem"))


def test_tls_uses_the_url_hostname_for_sni_and_verification(tls_receiver, trust_test_ca):
    resolve = resolver_for({"hooks.test": ["127.0.0.1"]})
    result = post_once(tls_receiver.url("/ok", host="hooks.test", scheme="https"), BODY,
                       delivery_headers(BODY), allow_insecure=True, resolver=resolve,
                       ssl_context=trust_test_ca)
    assert result.status == 200
    assert tls_receiver.server_names == ["hooks.test"]
    [seen] = tls_receiver.requests
    assert seen["body"] == BODY
    assert seen["headers"]["Host"] == f"hooks.test:{tls_receiver.port}"
    assert resolve.calls == [("hooks.test", tls_receiver.port)]


def test_tls_refuses_a_certificate_for_another_name(tls_receiver, trust_test_ca):
    resolve = resolver_for({"other.test": ["127.0.0.1"]})
    result = post_once(tls_receiver.url("/ok", host="other.test", scheme="https"), BODY, {},
                       allow_insecure=True, resolver=resolve, ssl_context=trust_test_ca)
    assert (result.status, result.error) == (None, "TLS error")
    assert tls_receiver.requests == []


def test_tls_refuses_an_untrusted_certificate_by_default(tls_receiver):
    resolve = resolver_for({"hooks.test": ["127.0.0.1"]})
    result = post_once(tls_receiver.url("/ok", host="hooks.test", scheme="https"), BODY, {},
                       allow_insecure=True, resolver=resolve)
    assert (result.status, result.error) == (None, "TLS error")
    assert tls_receiver.requests == []


def test_the_default_tls_context_verifies():
    context = outbound._default_tls()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
