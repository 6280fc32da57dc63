"""Webhook signatures, so receivers can tell a delivery came from us and was not altered.

Two schemes sign every delivery, each over the exact bytes sent:

- ours (Stripe's): ``X-Temporalist-Signature: t=<unix>,v1=<hex>`` where hex is
  HMAC-SHA256 keyed with the subscription secret (ASCII bytes) over ``b"<t>." + raw_body``;
  the reference's ``verify`` and Stripe's libraries accept it;
- Standard Webhooks (standardwebhooks.com): ``webhook-signature: v1,<base64>`` where the
  HMAC-SHA256 (same key) is over ``b"<delivery id>.<t>." + raw_body``; its libraries verify
  with the secret ``whsec_`` + base64(secret).

While a rotated secret's overlap lasts, a delivery is signed with the new secret and the
old one: one ``v1=`` per secret (new first, as Stripe does when a secret is rolled), and
space-separated entries in ``webhook-signature``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Sequence


def _timestamp(timestamp: int) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int (unix seconds)")
    return timestamp


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("ascii"), message, hashlib.sha256).digest()


def sign(secret: str, timestamp: int, raw_body: bytes, *older: str) -> str:
    """The ``X-Temporalist-Signature`` value for ``raw_body`` sent at ``timestamp``, signed
    with ``secret`` and then with each secret in ``older`` still honoured."""
    signed = f"{_timestamp(timestamp)}.".encode("ascii") + bytes(raw_body)
    values = ",".join(f"v1={_mac(s, signed).hex()}" for s in (secret, *older))
    return f"t={timestamp},{values}"


def standard_signature(secrets: Sequence[str], delivery_id: str, timestamp: int,
                       raw_body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` value: one ``v1,<base64>`` per secret."""
    signed = f"{delivery_id}.{_timestamp(timestamp)}.".encode("ascii") + bytes(raw_body)
    return " ".join("v1," + base64.b64encode(_mac(s, signed)).decode("ascii") for s in secrets)


def standard_secret(secret: str) -> str:
    """The form Standard Webhooks libraries take the same secret in: ``whsec_<base64>``."""
    return "whsec_" + base64.b64encode(secret.encode("ascii")).decode("ascii")
