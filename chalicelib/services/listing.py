"""Lists and their pages for every service: the complete list, or a page and the next cursor.

The cursor is bound to the list, its filters and the calling key (see
:mod:`chalicelib.domain.pages`); what it holds is the store's positions, signed with the
stage's secret so that nothing in it is trusted unsigned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from chalicelib.auth.caller import Caller
from chalicelib.config import ConfigError, settings
from chalicelib.domain import fields, pages
from chalicelib.errors import ValidationError
from chalicelib.store import pages as store_pages


@dataclass(frozen=True)
class Listed:
    """The items to show and, for a page with more after it, the next page's cursor and size."""

    items: list
    next_cursor: str | None = None
    page_size: int | None = None


def validated(schema: fields.Schema | None, query: Mapping[str, str | None]
              ) -> tuple[dict, pages.PageRequest | None]:
    """The list's filters and the page asked for; every bad one in one 400 (SPEC section 1)."""
    problems: dict = {}
    filters: dict = {}
    if schema is not None:
        try:
            filters = schema.validate({name: value for name, value in query.items()
                                       if value is not None and name in schema.fields})
        except ValidationError as exc:
            problems.update(exc.errors)
    page = None
    try:
        page = pages.page_request(query.get("page_size"), query.get("cursor"))
    except ValidationError as exc:
        problems.update(exc.errors)
    if problems:
        raise ValidationError(problems)
    return filters, page


def _secret() -> bytes:
    secret = settings().cursor_secret
    if secret is None:
        raise ConfigError("TEMPORALIST_CURSOR_SECRET is required outside the local stage")
    return secret


def listed(name: str, caller: Caller, filters: Mapping[str, Any],
           page: pages.PageRequest | None, source: store_pages.Listing) -> Listed:
    """The complete list the store's ``source`` describes, or the page asked for."""
    if page is None:
        try:
            return Listed(store_pages.read_all(source))
        except store_pages.ListTooLong as exc:  # refused before it is read whole: pages would do
            raise pages.ListTooLarge() from exc
    binding = pages.binding(name, caller.key_id, filters)
    positions, size = None, page.size
    if page.cursor is not None:
        positions, issued_size = pages.decode_cursor(_secret(), binding, page.cursor)
        size = size or issued_size
    found = store_pages.read_page(source, size, positions)
    cursor = (pages.encode_cursor(_secret(), binding, found.positions, size)
              if found.positions is not None else None)
    return Listed(found.items, cursor, size)
