"""``store.sizes``: items sized as AWS's "DynamoDB item sizes and formats" counts them, type by
type, once (the complete list's read budget and the benchmark's capacity meter both use it)."""
from __future__ import annotations

import pytest

from chalicelib.store.sizes import item_bytes, value_bytes


def s(text: str) -> dict:
    return {"S": text}


def n(number) -> dict:
    return {"N": str(number)}


def test_a_string_is_its_names_and_its_utf8_bytes():
    assert item_bytes({"id": s("abc")}) == 2 + 3
    assert item_bytes({"név": s("é")}) == 4 + 2  # UTF-8 bytes, not characters
    assert item_bytes({"e": s("")}) == 1


def test_a_binary_is_its_raw_bytes_not_their_base64():
    assert item_bytes({"b": {"B": b"\x00\x01\x02"}}) == 1 + 3
    assert item_bytes({"k": {"B": b"\x00\x01"}, "s": s("é")}) == (1 + 2) + (1 + 2)


def test_a_number_is_a_byte_per_two_significant_digits_plus_one():
    assert item_bytes({"n": n(12345)}) == 1 + 3 + 1
    assert item_bytes({"n": n(1234)}) == 1 + 2 + 1
    assert item_bytes({"n": n(1000)}) == 1 + 1 + 1  # trailing zeros trimmed
    assert item_bytes({"n": n("0.0500")}) == 1 + 1 + 1  # leading and trailing zeros
    assert item_bytes({"n": n(0)}) == 1 + 1 + 1  # no significant digit still takes a byte
    assert item_bytes({"n": n(-12)}) == 1 + 1 + 1 + 1  # a negative number's extra byte
    assert item_bytes({"n": n("+12")}) == 1 + 1 + 1  # an explicit plus costs nothing
    assert item_bytes({"n": n("-1.50e3")}) == 1 + 3  # significant digits only; the sign counts
    assert item_bytes({"n": n("1E+5")}) == 1 + 1 + 1  # the exponent is not a digit
    assert item_bytes({"n": n("9" * 38)}) == 1 + 19 + 1  # 38 digits, the most there can be


def test_booleans_and_nulls_are_one_byte():
    assert item_bytes({"ok": {"BOOL": True}, "no": {"NULL": True}}) == (2 + 1) + (2 + 1)
    assert item_bytes({"f": {"BOOL": False}}) == 1 + 1


def test_a_set_is_the_sum_of_its_members():
    assert item_bytes({"ss": {"SS": ["ab", "c"]}, "ns": {"NS": ["10", "123"]}}) == (
        2 + 3) + (2 + 2 + 3)
    assert item_bytes({"t": {"SS": ["ab", "c"]}, "u": {"NS": ["1"]}}) == (1 + 3) + (1 + 2)
    assert item_bytes({"bs": {"BS": [b"\x00", b"\x01\x02"]}}) == 2 + 1 + 2


def test_a_list_or_map_is_three_bytes_and_one_more_per_element():
    assert item_bytes({"l": {"L": [s("ab"), n(1)]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_bytes({"m": {"M": {"k": s("v")}}}) == 1 + 3 + (1 + 1 + 1)  # with its names
    assert item_bytes({"l": {"L": [s("ab")]}, "m": {"M": {"k": s("v")}}}) == (
        1 + 3 + 1 + 2) + (1 + 3 + 1 + 1 + 1)
    assert item_bytes({"m": {"M": {}}, "l": {"L": []}}) == (1 + 3) + (1 + 3)


def test_nested_lists_and_maps_pay_their_overhead_at_every_level():
    inner = {"M": {"k": s("v")}}                        # 3 + (1 + 1 + 1) = 6
    assert value_bytes(inner) == 6
    listed = {"L": [inner, {"L": [{"NULL": True}]}]}    # 3 + (1 + 6) + (1 + 3 + (1 + 1)) = 16
    assert value_bytes(listed) == 16
    assert item_bytes({"m": {"M": {"l": listed}}}) == 1 + 3 + (1 + 1 + 16)


def test_no_item_is_no_bytes_and_an_unknown_type_is_refused():
    assert item_bytes(None) == 0
    assert item_bytes({}) == 0
    with pytest.raises(ValueError):
        item_bytes({"x": {"Q": "?"}})
