"""Webhook signatures, so receivers can tell a delivery came from us and was not altered.

The scheme is Stripe's: ``X-Temporalist-Signature: t=<unix>,v1=<hex>`` where hex is
HMAC-SHA256 keyed with the subscription secret (ASCII bytes) over ``b"<t>." + raw_body``.
Sign the exact bytes that are sent; the reference's ``verify`` accepts the result.
"""
from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    """The ``X-Temporalist-Signature`` value for ``raw_body`` sent at ``timestamp``."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int (unix seconds)")
    signed = f"{timestamp}.".encode("ascii") + bytes(raw_body)
    digest = hmac.new(secret.encode("ascii"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
