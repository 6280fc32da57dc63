"""DynamoDB's item sizes as AWS counts them ("DynamoDB item sizes and formats"): one rule for
the complete list's read budget (store/pages.py) and the benchmark's capacity meter."""
from __future__ import annotations

import math
from typing import Any


def _number_bytes(text: str) -> int:
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1 + (1 if text.startswith("-") else 0)


def _binary_bytes(value: Any) -> int:
    return len(value) if isinstance(value, (bytes, bytearray)) else len(str(value).encode())


def value_bytes(value: dict) -> int:
    """The size of one AttributeValue (``{"S": "x"}``), its name not included."""
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_bytes(data)
    if kind == "B":
        return _binary_bytes(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_bytes(n) for n in data)
    if kind == "BS":
        return sum(_binary_bytes(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_bytes(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_bytes(element)
                       for name, element in data.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_bytes(item: dict | None) -> int:
    """An item's size as DynamoDB counts it, attribute names included (0 for no item)."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in (item or {}).items())
