"""What an ``Idempotency-Key`` is and when two requests are "the same" (SPEC section 7)."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from chalicelib.errors import ValidationError

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_LENGTH = 255
TTL = timedelta(hours=24)
LOCK_SECONDS = 60  # twice the API function's 30 s timeout
DIFFERENT_REQUEST = "Idempotency-Key was already used with a different request."
IN_PROGRESS = "A request with this Idempotency-Key is in progress."


def validate_key(value: str) -> str:
    """1–255 printable ASCII characters, or a 400 keyed by the header's name."""
    if value == "":
        raise ValidationError({HEADER: "This field may not be blank."})
    if len(value) > MAX_LENGTH:
        raise ValidationError({HEADER: f"Ensure this field has no more than {MAX_LENGTH} characters."})
    if not all(" " <= ch <= "~" for ch in value):
        raise ValidationError({HEADER: "Only printable ASCII characters are allowed."})
    return value


def fingerprint(method: str, path: str, raw_body: bytes | None, content_type: str = "") -> str:
    """What makes two requests "the same": method, path (trailing slash optional) and body.

    A JSON body is compared by its content, so key order and spacing don't matter; the
    body's content type counts too, since it decides how the body is read (or refused).
    """
    body = raw_body or b""
    try:
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON: compared byte for byte
        pass
    digest = hashlib.sha256()
    media_type = content_type.split(";")[0].strip().lower().encode()
    for part in (method.upper().encode(), path.rstrip("/").encode() or b"/", media_type, body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()
