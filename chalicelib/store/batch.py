"""Items of one or more tables read by their ids in as few BatchGetItem calls as DynamoDB
allows (100 keys a call), strongly consistent unless asked otherwise.

BatchGetItem may answer only part of what it was asked (throttling, its 16 MB answer, an
internal failure) and name the rest in ``UnprocessedKeys``; those are asked for again
after a backoff (:mod:`chalicelib.retry`), a few times, then the read fails with
:class:`Unprocessed`. PynamoDB's own ``batch_get`` asks again at once and without end.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from chalicelib import aws, retry
from chalicelib.store.base import StoreError, TableModel

MAX_KEYS = 100  # BatchGetItem's limit per call
READS = 5  # calls for one chunk of keys before keys DynamoDB keeps leaving are given up


class Unprocessed(StoreError):
    """DynamoDB kept leaving a BatchGetItem's keys unprocessed (throttling)."""


def _key(model: type[TableModel], value: Any) -> dict:
    attribute = model._hash_key_attribute()
    return {attribute.attr_name: {attribute.attr_type: attribute.serialize(value)}}


def get_items(wanted: Mapping[type[TableModel], Iterable[Any]],
              sleep: Callable[[float], None] = time.sleep, consistent: bool = True
              ) -> dict[type[TableModel], dict[Any, TableModel]]:
    """``{model: {id: item}}`` for the ids of each model (tables keyed by a hash key alone);
    an id without an item is absent. ``consistent=False`` halves the read units where a
    second-old copy will do."""
    by_table = {model.Meta.table_name: model for model in wanted}
    keys = [(model.Meta.table_name, _key(model, value))
            for model, values in wanted.items() for value in dict.fromkeys(values)]
    found: dict[type[TableModel], dict[Any, TableModel]] = {model: {} for model in wanted}
    client = aws.client("dynamodb")
    for start in range(0, len(keys), MAX_KEYS):
        request: dict[str, dict] = {}
        for table, key in keys[start:start + MAX_KEYS]:
            entry = request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})
            entry["Keys"].append(key)
        for attempt in range(1, READS + 1):
            answer = client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                model = by_table[table]
                for raw in items:
                    item = model.from_raw_data(raw)
                    found[model][getattr(item, model._hash_keyname)] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt < READS:
                sleep(retry.delay(attempt))
        else:
            raise Unprocessed("DynamoDB left keys of a BatchGetItem unprocessed")
    return found
