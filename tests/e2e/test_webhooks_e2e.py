"""Against the real local stack (``make run``'s process, with its webhook poller): a
subscription to a receiver on 127.0.0.1 gets a correctly signed ``session.closed`` after
the quickstart's close call, within a bounded wait.
"""
import hashlib
import hmac
import http.server
import json
import socketserver
import threading
import time

import pytest
import requests

WAIT_SECONDS = 10


# Copied verbatim from api-reference.txt, "Verifying signatures".
import hmac, hashlib

def verify(secret: str, signature_header: str, raw_body: bytes) -> bool:
    # signature_header looks like: "t=1781434200,v1=5257a869e6…"
    parts = dict(p.split("=", 1) for p in signature_header.split(","))
    timestamp, given = parts["t"], parts["v1"]
    signed = f"{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):  # HTTPServer's would look up this machine's FQDN
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class Receiver:
    """Records each POST (path, headers, raw body) and answers 200; ``arrived`` is set on each."""

    def __init__(self):
        self.requests = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.arrived:
                    receiver.requests.append((self.path, self.headers, body))
                    receiver.arrived.notify_all()

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float) -> list:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def test_quickstart_close_delivers_a_signed_session_closed(stack, receiver):
    base = stack.base_url
    auth = {"Authorization": f"Bearer {stack.token}"}

    subscribed = requests.post(f"{base}/webhooks/", headers=auth, timeout=10, json={
        "event": "session.closed", "target_url": f"http://127.0.0.1:{receiver.port}/hook"})
    assert subscribed.status_code == 201, subscribed.text
    secret = subscribed.json()["secret"]

    # the quickstart, call for call
    assert requests.get(f"{base}/me/", headers=auth, timeout=10).status_code == 200
    project = requests.post(f"{base}/projects/", headers=auth, timeout=10,
                            json={"name": "Website redesign"})
    assert project.status_code == 201, project.text
    session = requests.post(f"{base}/sessions/", headers=auth, timeout=10,
                            json={"project_id": project.json()["id"]})
    assert session.status_code == 201, session.text
    session_id = session.json()["id"]
    closed_at = time.monotonic()
    closed = requests.post(f"{base}/sessions/{session_id}/close/", headers=auth, timeout=10)
    assert closed.status_code == 200, closed.text

    [(path, headers, body)] = receiver.wait_for(1, WAIT_SECONDS)
    assert time.monotonic() - closed_at < WAIT_SECONDS
    assert path == "/hook"
    signature = headers["X-Temporalist-Signature"]
    assert verify(secret, signature, body) is True
    tampered = bytearray(body)
    tampered[len(body) // 2] ^= 0x01
    assert verify(secret, signature, bytes(tampered)) is False

    envelope = json.loads(body)
    assert set(envelope) == {"event", "delivery_id", "occurred_at", "data"}
    assert envelope["event"] == "session.closed"
    assert envelope["data"]["uuid"] == session_id
    assert envelope["data"]["project_uuid"] == project.json()["id"]
    assert envelope["data"]["end_time"] == closed.json()["end_time"].replace("Z", "+00:00")
    assert headers["X-Temporalist-Event"] == "session.closed"
    assert headers["X-Temporalist-Delivery"] == envelope["delivery_id"]
    assert headers["User-Agent"] == "Temporalist-Webhook/1.0"
    assert headers["Content-Type"] == "application/json"

    # recorded on the subscription, and delivered once (the poller deleted the message)
    # (the outcome is written just after the receiver answered: poll for it, bounded)
    deadline = time.monotonic() + 5
    while True:
        after = requests.get(f"{base}/webhooks/{subscribed.json()['id']}/", headers=auth,
                             timeout=10).json()
        if after["last_delivery_at"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert after["last_status_code"] == 200 and after["failure_count"] == 0
    time.sleep(1.5)  # more than one poll
    assert len(receiver.requests) == 1
