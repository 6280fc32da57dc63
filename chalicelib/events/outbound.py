"""Keep webhook deliveries from reaching our own network (SSRF), and make a delivery's one POST.

A target URL is checked twice: when a subscription is created (``check_target_url``) and
again at delivery time (``post_once``), because what a name resolves to can change in
between. ``post_once`` resolves the name once, checks every address, then connects to a
checked address itself, so there is no second lookup for an attacker to rebind; TLS still
uses the URL's hostname for SNI and certificate verification, and ``Host`` is the URL's.

Why not a library: ``advocate``, the established requests wrapper for this, last released
1.0.0 in 2020, requires ``urllib3<2`` and ``netifaces`` and patches urllib3 internals, so it
does not run with requests 2.3x / urllib3 2.x. The other PyPI packages that mention SSRF are
recent single-author projects (mostly httpx-based) without a track record, and none gives a
total deadline: urllib3's timeouts are per socket operation, so a receiver that trickles
one byte at a time never times out. Doing it with the standard library (ipaddress, socket,
ssl, http.client) on a socket we hold is small, and every rule is visible here.
"""
from __future__ import annotations

import codecs
import functools
import http.client
import io
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, Union
from urllib.parse import quote, urlsplit

import certifi

from chalicelib.domain.events import TARGET_URL_LENGTH as MAX_URL_LENGTH
from chalicelib.errors import ValidationError

log = logging.getLogger(__name__)

INVALID_URL = "Enter a valid HTTPS URL."
RESPONSE_BODY_CHARACTERS = 2048  # what a delivery keeps of a receiver's answer (SPEC section 7)

# Why an attempt got no response: the delivery log's ``error`` (SPEC section 7).
TIMEOUT = "timeout"
REFUSED = "connection refused"
RESET = "connection reset"
CLOSED = "connection closed without response"
BLOCKED = "blocked address"
UNRESOLVED = "name not resolved"
TLS_ERROR = "TLS error"
INVALID_TARGET = "invalid URL"
INVALID_RESPONSE = "invalid response"
UNREACHABLE = "connection failed"

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Resolver = Callable[[str, int], Sequence[str]]

_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.ip_address("::1")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # judged by the IPv4 address it embeds (DNS64)
_BLOCKED_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    # IPv4: this network, private, CGNAT, loopback, link-local (incl. 169.254.169.254),
    # IETF protocol assignments, documentation, 6to4 relay, benchmarking, multicast, reserved.
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    # IPv6: unspecified/loopback/IPv4-compatible, IPv4-mapped, local-use NAT64, discard,
    # IETF assignments incl. Teredo, documentation, 6to4, SRv6 SIDs, ULA, link-local,
    # site-local, multicast. Transition forms are refused whatever IPv4 address they embed.
    "::/96", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))

_HOSTNAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")  # a host ending in one is an IPv4 address
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # quote only non-ASCII


class TargetRefused(ValidationError):
    """A target URL refused (a 400 on ``target_url``); ``reason`` says why, for the log."""

    def __init__(self, message: str, reason: str):
        super().__init__({"target_url": [message]})
        self.reason = reason


@dataclass(frozen=True)
class PostResult:
    """What one POST got: the receiver's answer, or why there was none, and how long it took.

    ``headers`` and ``body`` are None when no response arrived; ``error`` is None whenever
    one did (whatever its status). ``body`` is at most the first 2,048 characters.
    """

    status: int | None
    duration_ms: int
    headers: tuple[tuple[str, str], ...] | None = None
    body: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class BlockedAddress(ValueError):
    """An address outbound requests must not reach; ``address`` is the offending one."""

    def __init__(self, address: str, message: str | None = None):
        self.address = address
        super().__init__(message or f"{address} is a blocked address.")


def is_blocked(ip: IPAddress, *, allow_loopback: bool) -> bool:
    """True unless ``ip`` is a global unicast address (or loopback, when that is allowed)."""
    if _is_loopback(ip):
        return not allow_loopback
    if ip in _NAT64:
        return is_blocked(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF), allow_loopback=False)
    return (not ip.is_global or ip.is_private or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified
            or any(ip in network for network in _BLOCKED_NETWORKS))


def _is_loopback(ip: IPAddress) -> bool:
    return ip in _LOOPBACK_V4 or ip == _LOOPBACK_V6


def default_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from ``getaddrinfo``, duplicates removed, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_safe(host: str, port: int, *, allow_loopback: bool,
                 resolver: Resolver = default_resolver) -> list[str]:
    """Resolve ``host`` once; return its addresses after checking every one of them.

    Raises ``BlockedAddress`` if any address is blocked (one bad record spoils the name),
    ``OSError`` if the name does not resolve.
    """
    addresses = [str(address) for address in resolver(host, port)]
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no addresses")
    for address in addresses:
        try:
            blocked = is_blocked(ipaddress.ip_address(address), allow_loopback=allow_loopback)
        except ValueError:  # not an IP address at all
            blocked = True
        if blocked:
            raise BlockedAddress(address, f"{host} resolves to a blocked address ({address}).")
    return addresses


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str             # ASCII hostname, or an IP literal (local stage only)
    port: int
    host_header: str
    request_target: str   # path and query
    addresses: tuple[str, ...]


def check_target_url(url: str, *, allow_insecure: bool = False,
                     resolver: Resolver = default_resolver, timeout: float = 5.0) -> None:
    """Raise ``ValidationError`` on ``target_url`` unless ``url`` is a safe webhook target.

    ``allow_insecure`` (the local stage only) also accepts ``http://`` and loopback targets.
    A name that does not resolve within ``timeout`` seconds is refused like one that does
    not resolve at all, so a slow DNS server cannot hold the API request.
    """
    _validate(url, allow_insecure, _within(time.monotonic() + timeout, resolver))


def _invalid(message: str = INVALID_URL, reason: str = INVALID_TARGET) -> TargetRefused:
    return TargetRefused(message, reason)


def _validate(url: object, allow_insecure: bool, resolver: Resolver) -> _Target:
    if (not isinstance(url, str) or len(url) > MAX_URL_LENGTH
            or any(c.isspace() or not c.isprintable() for c in url)):
        raise _invalid()
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError:
        raise _invalid() from None
    if (parts.scheme not in (("https", "http") if allow_insecure else ("https",))
            or "@" in parts.netloc or not parts.hostname or explicit_port == 0):
        raise _invalid()
    host, literal = _host(parts.hostname, bracketed=parts.netloc.startswith("["))
    default_port = 443 if parts.scheme == "https" else 80
    port = explicit_port or default_port
    if literal is not None:
        if not (allow_insecure and _is_loopback(literal)):
            raise _invalid(reason=BLOCKED)
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve_safe(host, port, allow_loopback=allow_insecure, resolver=resolver)
        except BlockedAddress as exc:
            raise _invalid(f"{INVALID_URL} {parts.hostname} resolves to a blocked address "
                           f"({exc.address}).", BLOCKED) from exc
        except TimeoutError as exc:  # the deadline passed while resolving
            raise _invalid(reason=TIMEOUT) from exc
        except (OSError, UnicodeError) as exc:
            raise _invalid(reason=UNRESOLVED) from exc
    netloc_host = f"[{host}]" if ":" in host else host
    host_header = netloc_host if port == default_port else f"{netloc_host}:{port}"
    request_target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        request_target += "?" + quote(parts.query, safe=_PATH_SAFE)
    return _Target(parts.scheme, host, port, host_header, request_target, tuple(addresses))


def _host(hostname: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    """The ASCII host and, when it is an IP literal, its address; invalid → ValidationError."""
    if bracketed:
        try:
            return hostname, ipaddress.IPv6Address(hostname)
        except ValueError:
            raise _invalid() from None
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _invalid() from None
    if not _HOSTNAME.fullmatch(host):
        raise _invalid()
    host = host.removesuffix(".")  # "example.com." is example.com, for DNS, SNI and Host
    numeric = bool(_NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]))
    try:
        socket.inet_aton(host)
        numeric = True
    except OSError:
        pass
    if not numeric:
        return host, None
    try:  # only the plain dotted quad counts as a literal; 2130706433, 0x7f.1, 127.1 do not
        return host, ipaddress.IPv4Address(host)
    except ValueError:
        raise _invalid() from None


def post_once(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float = 8.0,
              allow_insecure: bool = False, resolver: Resolver = default_resolver,
              max_response_bytes: int = 64 * 1024,
              ssl_context: ssl.SSLContext | None = None) -> PostResult:
    """POST ``body`` to ``url`` once; the receiver's status, headers and first characters,
    or the reason there was no response.

    ``timeout`` bounds the whole attempt (resolve, connect, TLS, send, read). Redirects are
    not followed. ``Host`` and ``Content-Length`` are set here; ``ssl_context`` replaces the
    default (certifi roots, hostname checked), e.g. to trust a test CA. At most
    ``max_response_bytes`` of the answer are read.
    """
    started = time.monotonic()
    deadline = started + timeout

    def failed(reason: str) -> PostResult:
        return PostResult(None, _elapsed_ms(started), error=reason)

    try:
        target = _validate(url, allow_insecure, _within(deadline, resolver))
    except TargetRefused as exc:
        log.info("webhook target refused: %s", exc.errors["target_url"][0])
        return failed(exc.reason)
    try:
        sock = _open(target, deadline, ssl_context)
    except OSError as exc:
        log.info("webhook to %s: no connection: %r", target.host, exc)
        return failed(_reason(exc))
    try:
        status, answer_headers, text = _exchange(sock, target, body, headers, deadline,
                                                 max_response_bytes)
    except (OSError, http.client.HTTPException) as exc:
        log.info("webhook to %s: no response: %r", target.host, exc)
        return failed(_reason(exc))
    except Exception as exc:  # a receiver's answer must never fail the delivery itself
        log.info("webhook to %s: unreadable response: %r", target.host, exc)
        return failed(INVALID_RESPONSE)
    finally:
        sock.close()
    return PostResult(status, _elapsed_ms(started), answer_headers, text)


def _elapsed_ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))


def _reason(exc: BaseException) -> str:
    """A short, stable reason for a connection or exchange that got no response."""
    if isinstance(exc, TimeoutError):  # socket.timeout included, TLS handshake timeouts too
        return TIMEOUT
    if isinstance(exc, ssl.SSLError):
        return TLS_ERROR
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, http.client.RemoteDisconnected):
        return CLOSED
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return RESET
    if isinstance(exc, http.client.HTTPException):
        return INVALID_RESPONSE
    return UNREACHABLE


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("webhook deadline passed")
    return left


def _within(deadline: float, resolver: Resolver) -> Resolver:
    """``resolver`` given up on at the deadline (``getaddrinfo`` has no timeout of its own)."""
    def resolve(host: str, port: int) -> Sequence[str]:
        outcome: list = []

        def run() -> None:
            try:
                outcome.append((True, resolver(host, port)))
            except BaseException as exc:  # handed to the caller's thread
                outcome.append((False, exc))

        worker = threading.Thread(target=run, name="webhook-resolve", daemon=True)
        left = _remaining(deadline)
        worker.start()
        worker.join(left)
        if not outcome:
            raise TimeoutError(f"resolving {host} took longer than the deadline")
        ok, value = outcome[0]
        if not ok:
            raise value
        return value
    return resolve


def _open(target: _Target, deadline: float, context: ssl.SSLContext | None) -> socket.socket:
    """A socket connected to one of the checked addresses, with TLS for https."""
    error: OSError = OSError(f"no address for {target.host}")
    for address in target.addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect((address, target.port))
            if target.scheme == "https":
                sock.settimeout(_remaining(deadline))  # the handshake as a whole gets this
                return (context or _default_tls()).wrap_socket(sock, server_hostname=target.host)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
            if isinstance(exc, (ssl.SSLError, TimeoutError)):
                break  # a TLS failure or the deadline: another address will not help
    raise error


@functools.lru_cache(maxsize=1)
def _default_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def _exchange(sock: socket.socket, target: _Target, body: bytes, headers: Mapping[str, str],
              deadline: float, max_response_bytes: int
              ) -> tuple[int, tuple[tuple[str, str], ...], str]:
    """Send the request; the answer's status, headers and first characters of its body."""
    conn = http.client.HTTPConnection(target.host, target.port)
    conn.sock = _DeadlineSocket(sock, deadline)
    conn.putrequest("POST", target.request_target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", target.host_header)
    for name, value in headers.items():
        if name.lower() not in ("host", "content-length", "connection"):
            conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(body)))
    conn.putheader("Connection", "close")
    conn.endheaders(body)  # one send: headers and body together
    response = conn.getresponse()
    kept = bytearray()  # enough bytes for the first characters, however they are encoded
    try:
        left = max_response_bytes
        while left > 0:
            chunk = response.read1(min(left, 16 * 1024))  # what has arrived: kept at a timeout
            if not chunk:
                break
            left -= len(chunk)
            kept += chunk[:_KEPT_BYTES - len(kept)]
    except (OSError, http.client.HTTPException):
        pass  # the status is what counts; a slow or broken body does not change it
    finally:
        response.close()
    return response.status, tuple(response.getheaders()), _first_characters(
        bytes(kept), response.msg.get_content_charset())


_KEPT_BYTES = 4 * RESPONSE_BODY_CHARACTERS  # no character takes more than 4 bytes (UTF-8)


def _first_characters(raw: bytes, charset: str | None) -> str:
    """The body's first characters, decoded with its declared charset (else UTF-8); bytes
    that do not decode become U+FFFD, and a character cut at the end of ``raw`` is left out."""
    try:
        codec = codecs.lookup(charset or "utf-8")
        if not codec._is_text_encoding:  # "rot13", "base64", "zlib"...: not a charset
            raise LookupError(charset)
        return codec.incrementaldecoder(errors="replace").decode(
            raw, final=False)[:RESPONSE_BODY_CHARACTERS]
    except Exception:  # whatever a receiver declares, the delivery's record must be kept
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return decoder.decode(raw, final=False)[:RESPONSE_BODY_CHARACTERS]


class _DeadlineSocket:
    """What http.client uses of a socket, with every send and receive cut off at the deadline."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock = sock
        self._deadline = deadline

    def armed(self) -> socket.socket:
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock

    def sendall(self, data: bytes) -> None:
        self.armed().sendall(data)  # sendall's timeout bounds the whole call

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        """Nothing: http.client closes early on ``Connection: close``; post_once closes."""


class _DeadlineReader(io.RawIOBase):
    def __init__(self, owner: _DeadlineSocket):
        super().__init__()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._owner.armed().recv_into(buffer)
