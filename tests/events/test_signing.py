import base64
import hashlib
import hmac
import time

import pytest
import standardwebhooks
import stripe

from chalicelib.events.signing import sign, standard_secret, standard_signature


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


# --- a rotated secret: both sign while the overlap lasts ----------------------------------

OLD = "0123456789abcdef" * 4


def test_two_secrets_give_two_v1_values_new_first():
    header = sign(SECRET, 1781434200, BODY, OLD)
    t, new, old = header.split(",")
    assert (t, new, old) == ("t=1781434200", sign(SECRET, 1781434200, BODY).split(",")[1],
                             sign(OLD, 1781434200, BODY).split(",")[1])


def test_stripe_accepts_either_secret_of_a_rotation():
    now = int(time.time())
    header = sign(SECRET, now, BODY, OLD)
    for secret in (SECRET, OLD):
        assert stripe.WebhookSignature.verify_header(BODY, header, secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY, header, "f" * 64, tolerance=300)


def test_the_reference_verify_keeps_the_last_v1_the_old_secret():
    header = sign(SECRET, 1781434200, BODY, OLD)
    assert verify(OLD, header, BODY) is True
    assert verify(SECRET, header, BODY) is False  # as SPEC section 7 says


# --- Standard Webhooks ---------------------------------------------------------------------

DELIVERY = "f0e1d2c3-b4a5-4697-8889-0a1b2c3d4e5f"


def test_standard_signature_known_value():
    expected = hmac.new(SECRET.encode(), f"{DELIVERY}.1781434200.".encode() + BODY,
                        hashlib.sha256).digest()
    assert standard_signature([SECRET], DELIVERY, 1781434200, BODY) == (
        "v1," + base64.b64encode(expected).decode())


@pytest.mark.parametrize("secrets", [[SECRET], [SECRET, OLD]])
def test_the_standard_webhooks_library_verifies_with_each_secret(secrets):
    now = int(time.time())
    headers = {"webhook-id": DELIVERY, "webhook-timestamp": str(now),
               "webhook-signature": standard_signature(secrets, DELIVERY, now, BODY)}
    assert len(headers["webhook-signature"].split(" ")) == len(secrets)
    for secret in secrets:
        assert standardwebhooks.Webhook(standard_secret(secret)).verify(
            BODY, headers) == {"event": "session.closed", "delivery_id": "f0e1d2c3",
                               "occurred_at": 1781434200}
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(standard_secret("f" * 64)).verify(BODY, headers)
    tampered = {**headers, "webhook-id": "another"}
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(standard_secret(SECRET)).verify(BODY, tampered)


def test_the_standard_secret_is_whsec_and_the_base64_of_the_ascii_secret():
    assert standard_secret("abc") == "whsec_YWJj"
