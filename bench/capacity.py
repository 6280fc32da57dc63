"""DynamoDB capacity units each call consumes, by AWS's documented rules, from what it read and wrote.

The cost model prices read and write units; a flat guess per call is wrong both ways
(a list's Query reads as many 4 KB units as its items weigh; a session write also
writes up to four index entries). So a botocore hook on the shared DynamoDB client
looks at each call while an operation is measured: the items a read returned (or, when
a filter or projection hid some, the items it evaluated, read again), and for a write
the item before (read just before the call) and after (read just after). The reads the
meter makes itself go through a client of its own, so no call count includes them.

The rules (AWS Developer Guide: "DynamoDB read and write operations", "Global secondary
indexes: provisioned throughput considerations", "Capacity management for
transactions", "DynamoDB item sizes and formats"):

- GetItem, and each key of a BatchGetItem: ⌈item size / 4 KB⌉ read units, halved when
  eventually consistent; a missing item still costs the minimum, one 4 KB unit.
- Query: the sizes of every item it evaluated (before any filter; for an index, its
  projected entries) summed, then rounded up to 4 KB once per call; halved unless
  strongly consistent (an index read never is); an empty Query costs the minimum too.
- A write: ⌈size / 1 KB⌉ write units of the larger of the item before and after (a
  delete: the old item); a conditional write that is refused costs the existing item's
  units (at least 1) and writes no index. Then each global secondary index: nothing if
  neither image has all its key attributes; a put of the new entry if only the new one
  has them; a delete of the old entry if only the old one has them; a delete and a put
  if its key changed; an update (the larger entry) if the key stayed but a projected
  attribute changed; nothing if no projected attribute changed. An entry is the index's
  keys, the table's keys and the projected attributes.
- TransactWriteItems: each item's own units twice (prepare and commit; a ConditionCheck
  too); its index entries are ordinary writes, made once the transaction has committed.
  BatchWriteItem: each put or delete as above.

Item size, DynamoDB's rule: the UTF-8 bytes of each attribute name plus its value —
a string's UTF-8 bytes, a binary's raw bytes, a number ≈ 1 byte per two significant
digits plus 1 (plus 1 if negative), a Boolean or null 1 byte, a list or map 3 bytes plus
1 byte and the size of each element (a map's elements with their names), a set the sum
of its elements. The number rule is AWS's own approximation; the rest is exact.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from chalicelib.store.sizes import item_bytes

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

# Calls that read or write no item (table management, streams' own API is another client).
NO_CAPACITY = frozenset({"DescribeTable", "ListTables", "CreateTable", "DeleteTable",
                         "UpdateTable", "DescribeTimeToLive", "UpdateTimeToLive",
                         "DescribeContinuousBackups", "ListTagsOfResource", "TagResource"})


# A write refused by its condition still consumes capacity.
REFUSED = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


def read_units(size: int, consistent: bool = False) -> float:
    """Units to read ``size`` bytes in one go: 4 KB steps, at least one; half if eventual."""
    return math.ceil(max(size, 1) / READ_UNIT_BYTES) * (1.0 if consistent else 0.5)


def write_units(size: int) -> int:
    """Units to write an item of ``size`` bytes: 1 KB steps, at least one."""
    return math.ceil(max(size, 1) / WRITE_UNIT_BYTES)


# --- tables and their indexes --------------------------------------------------------

@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    non_key: tuple[str, ...] = ()  # INCLUDE's attributes


@dataclass(frozen=True)
class Table:
    name: str  # the model's short name (``Meta.table``)
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def index(self, name: str | None) -> Index | None:
        return None if name is None else next(i for i in self.indexes if i.name == name)

    def key_of(self, item: dict) -> dict:
        return {name: item[name] for name in self.keys}

    def entry(self, index: Index | None, item: dict | None) -> dict | None:
        """What ``index`` holds of ``item`` (None: not in the index); the item itself for
        the table (``index`` None)."""
        if item is None or index is None:
            return item
        if any(key not in item for key in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        kept = set(index.keys) | set(self.keys)
        if index.projection == "INCLUDE":
            kept |= set(index.non_key)
        return {name: value for name, value in item.items() if name in kept}


def index_write_units(table: Table, index: Index, old: dict | None, new: dict | None) -> int:
    """Write units ``index`` consumes when the item goes from ``old`` to ``new``."""
    before, after = table.entry(index, old), table.entry(index, new)
    if before is None and after is None:
        return 0
    if before is None:
        return write_units(item_bytes(after))
    if after is None:
        return write_units(item_bytes(before))
    if any(before[key] != after[key] for key in index.keys):
        return write_units(item_bytes(before)) + write_units(item_bytes(after))
    if before != after:
        return write_units(max(item_bytes(before), item_bytes(after)))
    return 0


def item_write(table: Table, old: dict | None, new: dict | None, *,
               transactional: bool = False) -> dict[str | None, float]:
    """Write units of one item's change by where they are spent: ``None`` for the table
    itself, else each index's name (indexes left unwritten omitted)."""
    own = write_units(max(item_bytes(old), item_bytes(new)))
    spent: dict[str | None, float] = {None: own * (2 if transactional else 1)}
    for index in table.indexes:
        units = index_write_units(table, index, old, new)
        if units:
            spent[index.name] = units
    return spent


def refused_write(old: dict | None, *, transactional: bool = False) -> float:
    """A conditional write that was refused: the existing item's units, at least one."""
    return write_units(item_bytes(old)) * (2 if transactional else 1)


def query_read(table: Table, index_name: str | None, evaluated: Iterable[dict],
               consistent: bool = False) -> float:
    """Read units of one Query (or Scan) call over the items it evaluated."""
    index = table.index(index_name)
    size = sum(item_bytes(table.entry(index, item)) for item in evaluated)
    return read_units(size, consistent and index is None)


def tables_from_models(models: Iterable[Any]) -> dict[str, Table]:
    """PynamoDB models' tables by their full (stage) name: keys and global indexes."""
    found = {}
    for model in models:
        schema = model._get_schema()
        indexes = tuple(
            Index(gsi["index_name"], tuple(k["AttributeName"] for k in gsi["key_schema"]),
                  gsi["projection"]["ProjectionType"],
                  tuple(gsi["projection"].get("NonKeyAttributes", ())))
            for gsi in schema["global_secondary_indexes"])
        if schema["local_secondary_indexes"]:
            raise NotImplementedError("local secondary indexes are not modelled")
        keys = tuple(k["AttributeName"] for k in schema["key_schema"])
        found[model.Meta.table_name] = Table(model.Meta.table, keys, indexes)
    return found


# --- the meter -----------------------------------------------------------------------

class Spent(NamedTuple):
    """One entry of a measurement: units of ``kind`` spent by ``call`` on ``target``."""

    phase: str   # authorizer | handler (from the call counter), or "" without one
    kind: str    # read | write
    call: str    # the DynamoDB operation, e.g. Query
    target: str  # a table's short name, or "table/index"


@dataclass(frozen=True)
class Units:
    read: float = 0.0
    write: float = 0.0

    def __add__(self, other: Units) -> Units:
        return Units(self.read + other.read, self.write + other.write)

    def __mul__(self, factor: float) -> Units:
        return Units(self.read * factor, self.write * factor)

    def __truediv__(self, divisor: float) -> Units:
        return self * (1 / divisor) if divisor else Units()


def total(spent: Counter, where: Callable[[Spent], bool] = lambda s: True) -> Units:
    """Read and write units of a measurement (of its entries ``where`` holds)."""
    return Units(sum(v for k, v in spent.items() if k.kind == "read" and where(k)),
                 sum(v for k, v in spent.items() if k.kind == "write" and where(k)))


_TOKEN = re.compile(r"[#:][A-Za-z0-9_]+")


def _only_key_condition(params: dict) -> dict:
    """A Query's parameters without its filter and projection (names/values it no longer uses
    dropped, as DynamoDB refuses unused ones)."""
    used = set(_TOKEN.findall(params.get("KeyConditionExpression", "")))
    kept = {k: params[k] for k in ("TableName", "IndexName", "KeyConditionExpression",
                                   "ExclusiveStartKey", "ScanIndexForward", "ConsistentRead")
            if k in params}
    names = {k: v for k, v in params.get("ExpressionAttributeNames", {}).items() if k in used}
    values = {k: v for k, v in params.get("ExpressionAttributeValues", {}).items() if k in used}
    return {**kept, **({"ExpressionAttributeNames": names} if names else {}),
            **({"ExpressionAttributeValues": values} if values else {})}


class CapacityMeter:
    """Counts the capacity of each call of the shared DynamoDB client while :meth:`counting`.

    ``phase``: who is calling (the call counter's authorizer/handler), per thread.
    """

    def __init__(self, models: Iterable[Any] | None = None,
                 phase: Callable[[], str] = lambda: "") -> None:
        self._models = models
        self._phase = phase
        self._lock = threading.Lock()
        self._active = False
        self.spent: Counter[Spent] = Counter()
        self.unmetered: Counter[str] = Counter()  # calls that consume capacity unmodelled here
        self.tables: dict[str, Table] = {}
        self._client = None
        self._shared = None

    # installing

    def install(self) -> CapacityMeter:
        import botocore.session

        from chalicelib import aws
        if self._models is None:
            from chalicelib.store.tables import MODELS
            self._models = MODELS
        self.tables = tables_from_models(self._models)
        self._shared = aws.client("dynamodb")
        # The meter's own reads: a separate client, so no hook or call count sees them.
        self._client = botocore.session.get_session().create_client(
            "dynamodb", region_name=self._shared.meta.region_name,
            endpoint_url=self._shared.meta.endpoint_url)
        events = self._shared.meta.events
        events.register("before-parameter-build.dynamodb", self._before,
                        unique_id=f"bench-capacity-before-{id(self)}")
        events.register("after-call.dynamodb", self._after,
                        unique_id=f"bench-capacity-after-{id(self)}")
        return self

    def uninstall(self) -> None:
        events = self._shared.meta.events
        events.unregister("before-parameter-build.dynamodb",
                          unique_id=f"bench-capacity-before-{id(self)}")
        events.unregister("after-call.dynamodb", unique_id=f"bench-capacity-after-{id(self)}")

    @contextmanager
    def counting(self) -> Iterator[Counter]:
        """Measure the calls made inside the block (any thread); yields the filled-in Counter.
        One block at a time: every call made meanwhile is the block's."""
        spent: Counter[Spent] = Counter()
        with self._lock:
            if self._active:
                raise RuntimeError("the meter is already counting")
            self.spent, self._active = spent, True
        try:
            yield spent
        finally:
            with self._lock:
                self._active = False

    # the meter's own reads

    def _get(self, table_name: str, key: dict) -> dict | None:
        return self._client.get_item(TableName=table_name, Key=key,
                                     ConsistentRead=True).get("Item")

    def _add(self, kind: str, call: str, table_name: str, index: str | None,
             units: float) -> None:
        target = self.tables[table_name].name + (f"/{index}" if index else "")
        with self._lock:
            self.spent[Spent(self._phase(), kind, call, target)] += units

    # before a call: the items a write is about to change

    def _write_targets(self, call: str, params: dict) -> list[tuple[str, str, dict]]:
        """(table name, action, key) of each item a write call touches."""
        targets = []
        if call in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            key = (self.tables[table].key_of(params["Item"]) if call == "PutItem"
                   else params["Key"])
            targets.append((table, call, key))
        elif call == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        targets.append((table, "PutItem",
                                        self.tables[table].key_of(request["PutRequest"]["Item"])))
                    else:
                        targets.append((table, "DeleteItem", request["DeleteRequest"]["Key"]))
        elif call == "TransactWriteItems":
            for action in params["TransactItems"]:
                (kind, body), = action.items()
                table = body["TableName"]
                key = self.tables[table].key_of(body["Item"]) if kind == "Put" else body["Key"]
                targets.append((table, kind, key))
        return targets

    def _before(self, params: dict, model, context: dict, **_: Any) -> None:
        if not self._active or model.name in NO_CAPACITY:
            return
        context["bench_capacity"] = (dict(params), [
            (table, action, key, self._get(table, key))
            for table, action, key in self._write_targets(model.name, params)])

    # after a call: what it read, or what it changed

    def _after(self, parsed: dict, model, context: dict, **_: Any) -> None:
        if "bench_capacity" not in context:
            return
        request, touched = context.pop("bench_capacity")
        call = model.name
        error = parsed.get("Error", {}).get("Code")
        if error and error not in REFUSED:
            return  # nothing read or written (throttled, invalid): retried or raised
        if call in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                    "TransactWriteItems"):
            self._written(call, parsed, touched)
        elif call in ("Query", "Scan"):
            table, index = request["TableName"], request.get("IndexName")
            self._add("read", call, table, index,
                      query_read(self.tables[table], index, self._evaluated(call, request, parsed),
                                 bool(request.get("ConsistentRead"))))
        elif call == "GetItem":
            table = request["TableName"]
            projected = "ProjectionExpression" in request or "AttributesToGet" in request
            item = self._get(table, request["Key"]) if projected else parsed.get("Item")
            self._add("read", call, table, None,
                      read_units(item_bytes(item), bool(request.get("ConsistentRead"))))
        elif call == "BatchGetItem":
            unprocessed = parsed.get("UnprocessedKeys", {})
            for table, asked in request["RequestItems"].items():
                left = unprocessed.get(table, {}).get("Keys", [])
                for key in asked["Keys"]:
                    if key not in left:  # each key a GetItem of the whole item
                        self._add("read", call, table, None, read_units(
                            item_bytes(self._get(table, key)), bool(asked.get("ConsistentRead"))))
        elif call == "TransactGetItems":
            for action in request["TransactItems"]:
                body = action["Get"]
                item = self._get(body["TableName"], body["Key"])
                self._add("read", call, body["TableName"], None,
                          2 * read_units(item_bytes(item), True))
        else:
            with self._lock:
                self.unmetered[call] += 1

    def _evaluated(self, call: str, request: dict, parsed: dict) -> list[dict]:
        """The items a Query or Scan evaluated: its answer, or (when a filter or projection
        left some out) the same page read again without them."""
        trimmed = any(k in request for k in ("FilterExpression", "ProjectionExpression",
                                              "AttributesToGet", "QueryFilter", "ScanFilter"))
        if not trimmed and request.get("Select") in (None, "ALL_ATTRIBUTES",
                                                     "ALL_PROJECTED_ATTRIBUTES"):
            return parsed.get("Items", [])
        scanned = parsed.get("ScannedCount", 0)
        if not scanned:
            return []
        again = _only_key_condition(request)
        if call == "Scan":
            again.pop("KeyConditionExpression", None)
        read = self._client.query if call == "Query" else self._client.scan
        return read(**again, Limit=scanned).get("Items", [])

    def _written(self, call: str, parsed: dict, touched: list) -> None:
        transactional = call == "TransactWriteItems"
        if call == "BatchWriteItem":  # what DynamoDB left unprocessed was not written
            left = [r["DeleteRequest"]["Key"] if "DeleteRequest" in r else r["PutRequest"]["Item"]
                    for requests in parsed.get("UnprocessedItems", {}).values()
                    for r in requests]
            touched = [t for t in touched
                       if not any(all(item.get(n) == v for n, v in t[2].items()) for item in left)]
        for table_name, action, key, old in touched:
            if "Error" in parsed:  # refused by a condition (a transaction: all of it)
                self._add("write", call, table_name, None,
                          refused_write(old, transactional=transactional))
                continue
            if action in ("DeleteItem", "Delete"):
                new = None
            elif action == "ConditionCheck":
                new = old
            else:
                new = self._get(table_name, key)
            spent = item_write(self.tables[table_name], old, new, transactional=transactional)
            for index, units in spent.items():
                self._add("write", call, table_name, index, units)


# --- the background functions ----------------------------------------------------------

@dataclass
class Background:
    """What the documented operations cost behind the API: change records, and the capacity
    the fan-out spent on them and the delivery function on the messages it handled."""

    records: dict[str, int]  # change records each operation produced
    fan_out: Counter         # spent by the fan-out on all of those records
    deliveries: int          # messages the delivery function handled
    delivery: Counter        # spent on them

    @property
    def per_record(self) -> Units:
        return total(self.fan_out) / sum(self.records.values())

    @property
    def per_delivery(self) -> Units:
        return total(self.delivery) / self.deliveries


def measure_background(world, operations, meter: CapacityMeter) -> Background:
    """Run each operation, then its change records through the fan-out and the messages
    queued through the delivery function, in this process and metered (the records of
    earlier changes and of each operation's preparation are skipped)."""
    from app import deliver_webhooks, fan_out_events
    from chalicelib.local import poller
    from chalicelib.local.stream_poller import StreamPoller

    fan_out: Counter = Counter()
    metering = threading.Event()
    counted: list[int] = []

    def fan_out_handler(event, context):
        if not metering.is_set():  # earlier changes and preparations' own: skipped
            return {"batchItemFailures": []}
        counted.append(len(event["Records"]))
        with meter.counting() as spent:
            result = fan_out_events(event, context)
        fan_out.update(spent)
        return result

    stream = StreamPoller(fan_out_handler)
    stream.drain()
    records = {}
    for operation in operations:
        path, body = operation.request(world)
        stream.drain()
        counted.clear()
        response = world.api.request(operation.method, path, body)
        assert response.status_code < 300, (operation.name, response.text)
        metering.set()
        try:
            stream.drain()
        finally:
            metering.clear()
        records[operation.name] = sum(counted)

    delivery: Counter = Counter()

    def delivery_handler(event, context):
        with meter.counting() as spent:
            result = deliver_webhooks(event, context)
        delivery.update(spent)
        return result

    deliveries = 0
    while handled := poller.poll_once(delivery_handler):
        deliveries += handled
    return Background(records, fan_out, deliveries, delivery)
