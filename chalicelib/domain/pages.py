"""Pages of a list (SPEC sections 1 and 7): ``page_size``, the opaque cursor, the size guard.

A cursor is the positions the store reached in each index it reads, plus what the cursor
was issued for (the list, its filters, the API key), signed with the stage's secret
(HMAC-SHA256). A cursor for another list or key, an edited one or a made-up one fails
the signature or the binding and is refused like DRF's ``CursorPagination``: 404
``Invalid cursor``. Nothing in it is trusted before its signature is checked, so it
cannot be forged into another tenant's partition.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from chalicelib.errors import BadRequest, NotFound, ValidationError

MIN_PAGE_SIZE = 1
MAX_PAGE_SIZE = 1000
LIST_TOO_LARGE = "This list is too large for one response; request it in pages with page_size."
INVALID_CURSOR = "Invalid cursor"
QUERY_PARAMETERS = ("page_size", "cursor")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
_SIGNATURE_BYTES = 16  # 128 bits: forging one is out of reach, and URLs stay short


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for: a page of ``size`` items (None: the cursor's), after
    ``cursor`` (None: the first page)."""

    size: int | None
    cursor: str | None = None


class InvalidCursor(NotFound):
    """404 ``Invalid cursor``: not issued for this list and this key, or edited."""

    default_detail = INVALID_CURSOR


class ListTooLarge(BadRequest):
    """400: the complete list would not fit in one response; pages would."""

    default_detail = LIST_TOO_LARGE


def page_request(page_size: str | None, cursor: str | None) -> PageRequest | None:
    """The page asked for by the query string, None for the complete list, or a 400.

    A cursor without ``page_size`` asks for a page of the size it was issued with (the
    next page's URL carries both).
    """
    if page_size is None:
        return None if cursor is None else PageRequest(None, cursor)
    size = int(page_size) if _INTEGER.fullmatch(page_size) else None
    if size is not None and MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE:
        return PageRequest(size, cursor)
    from chalicelib.domain import fields  # the fields' messages, loaded for a 400 only
    if size is None:
        message = fields.NOT_AN_INTEGER
    elif size < MIN_PAGE_SIZE:
        message = fields.MIN_VALUE.format(n=MIN_PAGE_SIZE)
    else:
        message = fields.MAX_VALUE.format(n=MAX_PAGE_SIZE)
    raise ValidationError({"page_size": message})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, binding: str, body: bytes) -> bytes:
    """The MAC of a cursor's body for its list and caller: the binding is signed, not sent."""
    return hmac.new(secret, binding.encode() + b"\x00" + body,
                    hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def encode_cursor(secret: bytes, binding: str, positions: Mapping[str, Any], size: int) -> str:
    """A cursor for ``positions`` of the list identified by ``binding``, in pages of ``size``."""
    body = json.dumps({"p": positions, "s": size}, separators=(",", ":"),
                      sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(_signature(secret, binding, body))}"


def decode_cursor(secret: bytes, binding: str, cursor: str) -> tuple[dict[str, Any], int]:
    """The positions and page size of a cursor issued for ``binding``, or
    :class:`InvalidCursor`. Only the exact text issued is accepted (base64 has other
    spellings of the same bytes)."""
    try:
        body_text, signature_text = cursor.split(".")
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (ValueError, binascii.Error) as exc:
        raise InvalidCursor() from exc
    if (_b64(body), _b64(signature)) != (body_text, signature_text) \
            or not hmac.compare_digest(signature, _signature(secret, binding, body)):
        raise InvalidCursor()
    payload = json.loads(body)  # signed: what encode_cursor wrote
    return payload["p"], int(payload["s"])


def binding(list_name: str, key_id: str, filters: Mapping[str, Any]) -> str:
    """What a cursor is bound to: the list, its filters and the API key that listed it."""
    shown = {name: str(value) for name, value in sorted(filters.items()) if value is not None}
    return json.dumps([list_name, key_id, shown], separators=(",", ":"))
