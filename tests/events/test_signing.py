import hashlib
import hmac

import pytest

from chalicelib.events.signing import sign


# Copied verbatim from api-reference.txt, "Verifying signatures".
def verify(secret: str, signature_header: str, raw_body: bytes) -> bool:
    # signature_header looks like: "t=1781434200,v1=5257a869e6…"
    parts = dict(p.split("=", 1) for p in signature_header.split(","))
    timestamp, given = parts["t"], parts["v1"]
    signed = f"{timestamp}.".encode() + raw_body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


SECRET = "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"
BODY = b'{"event": "session.closed", "delivery_id": "f0e1d2c3", "occurred_at": 1781434200}'


def test_reference_verify_accepts_the_signature():
    assert verify(SECRET, sign(SECRET, 1781434200, BODY), BODY) is True


@pytest.mark.parametrize("index", [0, 17, len(BODY) - 1])
def test_reference_verify_rejects_one_flipped_byte(index):
    header = sign(SECRET, 1781434200, BODY)
    tampered = bytearray(BODY)
    tampered[index] ^= 0x01
    assert verify(SECRET, header, bytes(tampered)) is False


def test_reference_verify_rejects_another_secret_and_another_timestamp():
    header = sign(SECRET, 1781434200, BODY)
    assert verify("0" * 64, header, BODY) is False
    assert verify(SECRET, header.replace("t=1781434200", "t=1781434201"), BODY) is False


def test_format_and_known_value():
    header = sign("secret", 1, b"{}")
    expected = hmac.new(b"secret", b"1.{}", hashlib.sha256).hexdigest()
    assert header == f"t=1,v1={expected}"
    assert len(expected) == 64


def test_non_ascii_and_binary_bodies_are_signed_byte_for_byte():
    body = '{"description": "Café ☕"}'.encode() + b"\x00\xff"
    assert verify(SECRET, sign(SECRET, 1781434200, body), body)


@pytest.mark.parametrize("timestamp", [1.5, "1781434200", True])
def test_timestamp_must_be_an_int(timestamp):
    with pytest.raises(TypeError):
        sign(SECRET, timestamp, BODY)
