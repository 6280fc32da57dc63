"""moto's DynamoDB and SQS state, read out as JSON and written back: the one place that
knows moto's internals (its backends, tables, items and messages).

moto has no API for this. Its classes are used as moto 5.2 (pinned in
requirements-dev.txt) defines them; the end-to-end restart tests fail if an upgrade
changes them. Everything read out is what the public API would show (DynamoDB JSON items,
CreateTable and CreateQueue parameters), except the message fields SQS keeps to itself
(receive counts, visibility), which a restart must keep too.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any, Iterable, Iterator

# What CreateQueue accepts, of what a queue reports about itself.
QUEUE_SETTINGS = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "Policy",
                  "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "RedriveAllowPolicy",
                  "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication",
                  "DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId",
                  "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled")
MESSAGE_FIELDS = ("id", "body", "message_attributes", "sender_id", "sent_timestamp",
                  "approximate_first_receive_timestamp", "approximate_receive_count",
                  "deduplication_id", "group_id", "sequence_number", "visible_at",
                  "delayed_until", "system_attributes", "receipt_handle")

Scope = tuple[str, str, str]  # (account, region, table or queue name)


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    # dict's own items(): the accounts and regions in use, without creating the others.
    for account, regions in list(dict.items(backend_dict)):
        for region, backend in list(dict.items(regions)):
            yield account, region, backend


def _dynamodb_backends() -> Iterator[tuple[str, str, Any]]:
    from moto.dynamodb.models import dynamodb_backends
    return _backends(dynamodb_backends)


def _sqs_backends() -> Iterator[tuple[str, str, Any]]:
    from moto.sqs.models import sqs_backends
    return _backends(sqs_backends)


def wire_bytes(value: Any) -> Any:
    """``json.dumps`` default: binary values as base64 text, as DynamoDB sends them."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot save {type(value).__name__}")


def _tag_bytes(value: Any) -> Any:
    """Binary SQS message fields kept apart from text, so they come back as bytes."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _tag_bytes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag_bytes(v) for v in value]
    return value


def _untag_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: _untag_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag_bytes(v) for v in value]
    return value


# -- DynamoDB ----------------------------------------------------------------------------

def table(account: str, region: str, name: str) -> Any | None:
    from moto.dynamodb.models import dynamodb_backends
    return dynamodb_backends[account][region].tables.get(name)


def tables_named(ref: str) -> Iterator[tuple[Scope, Any]]:
    """Every table a request's ``TableName`` (a name, or an ARN) may mean, with its scope.

    A request's account and region are moto's to work out; a name is looked up in every
    one in use instead (there is one, the local stack's), so nothing is missed.
    """
    name, scope = ref, None
    if ref.startswith("arn:"):
        parts = ref.split(":")
        name, scope = ref.rsplit("/", 1)[1], (parts[4], parts[3])
    for account, region, backend in _dynamodb_backends():
        if (scope is None or scope == (account, region)) and name in backend.tables:
            yield (account, region, name), backend.tables[name]


def definition(found: Any) -> dict[str, Any]:
    """CreateTable's parameters for a table (plus its TTL), from what DescribeTable reports."""
    described = found.describe()["TableDescription"]
    billing = (described.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    result: dict[str, Any] = {"KeySchema": described["KeySchema"],
                              "AttributeDefinitions": described["AttributeDefinitions"],
                              "BillingMode": billing}
    throughput = {k: v for k, v in (described.get("ProvisionedThroughput") or {}).items()
                  if k in ("ReadCapacityUnits", "WriteCapacityUnits")}
    if billing == "PROVISIONED":
        result["ProvisionedThroughput"] = throughput
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = []
        for index in described.get(kind) or []:
            entry = {k: v for k, v in index.items()
                     if k in ("IndexName", "KeySchema", "Projection")}
            if kind == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
                entry["ProvisionedThroughput"] = throughput
            indexes.append(entry)
        if indexes:
            result[kind] = indexes
    stream = described.get("StreamSpecification")
    if stream and stream.get("StreamEnabled"):
        result["StreamSpecification"] = {"StreamEnabled": True,
                                         "StreamViewType": stream["StreamViewType"]}
    ttl = getattr(found, "ttl", None) or {}
    if ttl.get("TimeToLiveStatus") == "ENABLED":
        result["TimeToLive"] = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
    return result


def key_shape(table_definition: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key type, attribute, attribute type) of a table's key: what items are stored by."""
    return _keys(table_definition, table_definition["KeySchema"])


def layout(table_definition: dict[str, Any]) -> list[tuple]:
    """What a table's items are stored and found by: its key, then each index's name, key
    and projection. Saved items fit only a table of the same layout: an index the code
    added or re-keyed would not list the items written before (they lack its keys)."""
    indexes = [(index["IndexName"], _keys(table_definition, index["KeySchema"]),
                json.dumps(index.get("Projection"), sort_keys=True))
               for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
               for index in table_definition.get(kind) or []]
    return [*key_shape(table_definition), *sorted(indexes)]


def _keys(table_definition: dict[str, Any], schema: list[dict]) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"]
             for a in table_definition["AttributeDefinitions"]}
    return sorted((k["KeyType"], k["AttributeName"], types[k["AttributeName"]]) for k in schema)


def item_after(found: Any, key_or_item: dict[str, Any]) -> tuple[dict, dict | None]:
    """(key, the item's attributes now or None): the after-image of a write to it."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    key = {name: key_or_item[name] for name in (found.hash_key_attr, found.range_key_attr)
           if name is not None}
    item = found.get_item(DynamoType(key[found.hash_key_attr]),
                          DynamoType(key[found.range_key_attr]) if found.range_key_attr else None)
    return key, None if item is None else item.to_json()["Attributes"]


def _all_items(found: Any) -> Iterator[Any]:
    """A table's items, unsorted (``Table.all_items`` sorts them: a third of a snapshot)."""
    for stored in list(found.items.values()):
        if found.range_key_attr:
            yield from list(stored.values())
        else:
            yield stored


def dump_tables() -> list[dict[str, Any]]:
    """Every table moto holds: scope, definition and items."""
    return [{"account": account, "region": region, "table": name,
             "definition": definition(found),
             "items": [item.to_json()["Attributes"] for item in _all_items(found)]}
            for account, region, backend in _dynamodb_backends()
            for name, found in list(backend.tables.items())]


def restore_items(found: Any, items: Iterable[dict[str, Any]]) -> None:
    """Put saved items into a table without producing stream records: the shard is
    detached meanwhile, so a stream consumer sees none of them (they are not changes)."""
    shard = found.stream_shard
    found.stream_shard = None
    try:
        for attributes in items:
            found.put_item(attributes, overwrite=True)
    finally:
        found.stream_shard = shard


# -- SQS ---------------------------------------------------------------------------------

def queue_exists(account: str, region: str, name: str) -> bool:
    from moto.sqs.models import sqs_backends
    return name in sqs_backends[account][region].queues


def dump_queues() -> dict[Scope, dict[str, Any]]:
    """Every queue moto holds: scope, settings, tags and messages (in flight included)."""
    result = {}
    for account, region, backend in _sqs_backends():
        for name, queue in list(backend.queues.items()):
            attributes = queue.attributes
            result[(account, region, name)] = {
                "account": account, "region": region, "queue": name,
                "attributes": {k: str(attributes[k]) for k in QUEUE_SETTINGS
                               if attributes.get(k) is not None},
                "tags": dict(queue.tags or {}),
                "messages": [{field: _tag_bytes(getattr(message, field))
                              for field in MESSAGE_FIELDS}
                             for message in list(queue._messages)]}
    return result


def restore_messages(account: str, region: str, name: str,
                     messages: list[dict[str, Any]]) -> int:
    """Put saved messages back on their (existing, empty) queue; how many."""
    from moto.sqs.models import Message, sqs_backends
    queue = sqs_backends[account][region].queues[name]
    restored = []
    for saved in messages:
        message = Message(saved["id"], saved["body"])
        for field in MESSAGE_FIELDS:
            if field in saved and field not in ("id", "body"):
                setattr(message, field, _untag_bytes(saved[field]))
        restored.append(message)
    now_ms = time.time() * 1000
    queue._messages = restored
    # Received and not visible again yet: in flight, as before the restart.
    queue._pending_messages = {m for m in restored
                               if m.approximate_receive_count and m.visible_at > now_ms}
    return len(restored)
