"""Lists read from indexes: the complete list, or one page that costs one Query page per index.

A list is one or more *sources* (a key condition on an index whose sort key is the
list's order, e.g. a user's sessions newest first), merged in that order and without
duplicates (a project may be both the caller's and their team's). Every index's sort key
is unique (a time, then the item's id), so the index order is exactly the list's order,
ties included, and a position in it is exact.

A page asks each source for one Query page of ``size + 1`` items from its position.
An item is safe to show only when no source could still have an unseen item before it;
the last item a source returned while it has more (its *boundary*) is never shown, so
whenever a next page is announced it starts with at least that item — a page never
leads to an empty one. A source is a key condition only, never a filter: a filter could
leave a Query page without an item to show, and reading on would cost more than one
Query page per index.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Callable

from pynamodb.expressions.condition import Condition
from pynamodb.indexes import Index

from chalicelib.domain.vocabulary import MAX_LIST_BYTES
from chalicelib.store.base import StoreError, TableModel
from chalicelib.store.sizes import item_bytes

DONE = "done"  # a source's position once it has nothing more
# A complete list stops being read past this many bytes of items: its JSON would pass the
# 5 MiB a response may hold (domain.pages.MAX_LIST_BYTES). An item's JSON is at least a
# quarter of its stored size (its index keys repeat its fields: a client's name is stored
# again as three bytes a character), which tests/api/test_limits.py measures.
MAX_READ_BYTES = 4 * MAX_LIST_BYTES
# A page ends before its items' JSON could pass MAX_LIST_BYTES, so a list asked for in pages
# never gets the 400 that asks for pages: JSON writes a stored byte as at most six (a
# control character as ``\u0001``) and adds at most JSON_PER_ITEM bytes an item does not
# store (field names and punctuation, a session's project name of 255 such characters).
JSON_PER_STORED_BYTE = 6
JSON_PER_ITEM = 2048


class ListTooLong(StoreError):
    """A complete list read past :data:`MAX_READ_BYTES` (it must be read in pages)."""


@dataclass(frozen=True)
class Source:
    """A key condition on one index (or on the table itself), read in the list's order."""

    name: str                      # its position's name in a cursor
    model: type[TableModel]
    index: Index | None            # None: the table's own key
    hash_key: Any
    range_key_condition: Condition | None = None


@dataclass(frozen=True)
class Listing:
    """Sources of one list and its order: ``order(item)`` ascending, or descending if newest first."""

    sources: tuple[Source, ...]
    order: Callable[[Any], Any]
    descending: bool = True


@dataclass
class Page:
    items: list
    positions: dict[str, Any] | None  # where the next page starts; None: this is the last


@dataclass
class _Read:
    source: Source
    start: dict | None  # where this page began reading it
    items: list = field(default_factory=list)
    more: bool = False


def _key_names(source: Source) -> list[str]:
    model, index = source.model, source.index
    names = [model._hash_keyname] + ([model._range_keyname] if model._range_keyname else [])
    if index is not None:
        names += [a.attr_name for a in index.Meta.attributes.values()
                  if a.is_hash_key or a.is_range_key]
    return list(dict.fromkeys(names))


def _position_of(source: Source, item: TableModel) -> dict:
    """The exclusive start key that resumes ``source`` just after ``item``, as JSON (a
    binary key as base64 text, as DynamoDB's JSON writes it)."""
    serialized = item.serialize(null_check=False)
    return _as_position({name: serialized[name] for name in _key_names(source)})


def _as_position(key: dict | None) -> dict | None:
    """A key as a position: JSON, a binary value as base64 text (DynamoDB's JSON form)."""
    if key is None:
        return None
    return {name: {"B": base64.b64encode(value["B"]).decode("ascii")} if "B" in value
            else value for name, value in key.items()}


def _start_key(position: dict | None) -> dict | None:
    """A position back as the exclusive start key botocore sends (binary as bytes)."""
    if position is None:
        return None
    return {name: {"B": base64.b64decode(value["B"])} if "B" in value else value
            for name, value in position.items()}


def _query(source: Source, descending: bool, limit: int | None,
           start: dict | None) -> tuple[list[dict], dict | None]:
    """One Query call: the items as DynamoDB wrote them and the LastEvaluatedKey (as a
    position)."""
    result = source.model._get_connection().query(
        source.hash_key, range_key_condition=source.range_key_condition,
        exclusive_start_key=_start_key(start),
        index_name=None if source.index is None else source.index.Meta.index_name, limit=limit,
        scan_index_forward=not descending)
    return result.get("Items", []), _as_position(result.get("LastEvaluatedKey"))


def _identity(item: TableModel) -> tuple:
    return tuple(item._get_keys().values())


def read_all(listing: Listing) -> list:
    """The complete list: every source read to its end, merged in order.

    Raises :class:`ListTooLong` once the items read pass :data:`MAX_READ_BYTES` (DynamoDB's
    item sizes), so a list too large to answer is refused after a few Query pages instead of
    being read whole into the function's memory.
    """
    found: dict[tuple, Any] = {}
    read = 0
    for source in listing.sources:
        start = None
        while True:
            raw_items, start = _query(source, listing.descending, None, start)
            read += sum(map(item_bytes, raw_items))
            if read > MAX_READ_BYTES:
                raise ListTooLong(read)
            for raw in raw_items:
                item = source.model.from_raw_data(raw)
                found.setdefault(_identity(item), item)
            if not start:
                break
    return sorted(found.values(), key=listing.order, reverse=listing.descending)


def read_page(listing: Listing, size: int, positions: dict[str, Any] | None) -> Page:
    """At most ``size`` items from ``positions`` (None: the start), and where to go on;
    fewer when more would risk a response over MAX_LIST_BYTES."""
    positions = dict(positions or {})
    key = listing.order
    reads: list[_Read] = []
    weights: dict[tuple, int] = {}  # the most JSON each item can make
    for source in listing.sources:
        start = positions.get(source.name)
        if start == DONE:
            continue
        raw_items, last = _query(source, listing.descending, size + 1, start)
        items = [source.model.from_raw_data(r) for r in raw_items]
        weights.update((_identity(item), JSON_PER_STORED_BYTE * item_bytes(raw) + JSON_PER_ITEM)
                       for item, raw in zip(items, raw_items))
        reads.append(_Read(source, start, items, more=bool(last)))

    def before(a, b) -> bool:  # a comes before b in the list's order
        return key(a) > key(b) if listing.descending else key(a) < key(b)

    boundaries = [r.items[-1] for r in reads if r.more and r.items]
    merged: dict[tuple, Any] = {}
    for read in reads:
        for item in read.items:
            merged.setdefault(_identity(item), item)
    ordered = sorted(merged.values(), key=key, reverse=listing.descending)
    safe = [item for item in ordered if all(before(item, b) for b in boundaries)]
    if not safe and ordered:  # cannot happen with items under 400 KB in 1 MB pages
        safe = ordered[:1]
    shown, weight = [], 0
    for item in safe[:size]:
        weight += weights[_identity(item)]
        if shown and weight > MAX_LIST_BYTES:
            break  # the next page starts with it
        shown.append(item)
    shown_ids = {_identity(item) for item in shown}

    next_positions: dict[str, Any] = {}
    for read in reads:
        consumed = [item for item in read.items if _identity(item) in shown_ids]
        if consumed:
            last_shown = consumed[-1]
            everything = len(consumed) == len(read.items)
            next_positions[read.source.name] = (DONE if everything and not read.more
                                                else _position_of(read.source, last_shown))
        else:
            next_positions[read.source.name] = (DONE if not read.items and not read.more
                                                else read.start)
    for source in listing.sources:  # sources that were already done stay so
        next_positions.setdefault(source.name, positions.get(source.name, DONE))
    if all(value == DONE for value in next_positions.values()):
        return Page(shown, None)
    return Page(shown, next_positions)
