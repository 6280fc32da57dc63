"""The request-body schemas say exactly what the validators accept (the fuzzer relies on it)."""
from __future__ import annotations

import functools
import re

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import fields as f
from chalicelib.domain import schemas
from chalicelib.schema import bodies, operations

FIELDS = sorted({(name, prop): field
                 for name, (schema, _) in operations.REQUEST_SCHEMAS.items()
                 for prop, field in schema.fields.items()
                 if (name, prop) not in {k for k, v in operations.REQUEST_PROPERTY_NOTES.items()
                                         if "replace" in v}}.items())
# Characters that matter to the rules: whitespace of several kinds, NUL, digits, signs,
# separators of dates, numbers and emails, letters.
ALPHABET = list("09 .+-:@TZe\t\x00\u3000\x1c\u00a0aX") + ["12", "2024-02-29", "T10:00"]
settings_ = settings(max_examples=200, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def accepts(field: f.Field, value: object) -> bool:
    try:
        field.clean(value)
    except f.Invalid:
        return False
    return True


@functools.lru_cache(maxsize=None)
def validator(field: f.Field):
    return jsonschema_rs.validator_for(bodies.field_schema(field), validate_formats=True)


def described(field: f.Field, value: object) -> bool:
    return validator(field).is_valid(value)


def known_difference(field: f.Field, value: object) -> bool:
    """Where the description is deliberately narrower than the validator (see bodies.py)."""
    if not isinstance(value, str):
        return False
    if isinstance(field, f.Decimal):
        return "e" in value.lower()  # scientific notation: accepted, not described
    if isinstance(field, f.Email):
        return value != value.strip() or not value.strip()  # padding is trimmed, not described
    if isinstance(field, f.DateTime):
        return value[:4] in ("0001", "9999")  # years an offset could push out of range
    return False


@pytest.mark.parametrize("key, field", FIELDS, ids=[f"{n}.{p}" for (n, p), _ in FIELDS])
@settings_
@given(data=st.data())
def test_a_value_is_described_exactly_when_it_is_accepted(key, field, data):
    value = data.draw(st.one_of(
        st.lists(st.sampled_from(ALPHABET), max_size=8).map("".join),
        st.none(), st.booleans(), st.integers(-5, 10 ** 9), st.floats(-1, 1e9),
        st.sampled_from([0.07, 0.5700000000000001, 99999999.99, 100.0, 100.01, -0.0]),
    ))
    if known_difference(field, value):
        return
    assert described(field, value) == accepts(field, value), (key, value)


PATTERNED = [(k, v) for k, v in FIELDS if "pattern" in bodies.field_schema(v)]


@pytest.mark.parametrize("key, field", PATTERNED, ids=[f"{n}.{p}" for (n, p), _ in PATTERNED])
@settings_
@given(data=st.data())
def test_strings_drawn_from_a_pattern_are_accepted(key, field, data):
    pattern = bodies.field_schema(field)["pattern"]
    value = data.draw(st.from_regex(re.compile(pattern), fullmatch=True).filter(
        lambda v: described(field, v)))
    assert accepts(field, value), (key, value)


def test_long_names_count_after_trimming():
    name = schemas.PROJECT_CREATE.fields["name"]
    assert described(name, "  " + "x" * 255 + "\t") and accepts(name, "  " + "x" * 255 + "\t")
    assert not described(name, "x" * 256) and not accepts(name, "x" * 256)


def _examples(schema: dict):
    for example in schema.get("examples", []):
        yield example
    for branch in schema.get("anyOf", []):
        yield from _examples(branch)


@pytest.mark.parametrize("key, field", FIELDS, ids=[f"{n}.{p}" for (n, p), _ in FIELDS])
def test_every_example_is_accepted(key, field):
    for example in _examples(bodies.field_schema(field)):
        assert accepts(field, example), (key, example)


@pytest.mark.parametrize("name", [n for n, op in operations.OPERATIONS.items() if op.body_example])
def test_every_body_example_passes_its_validator(name):
    operation = operations.OPERATIONS[name]
    validator, partial = operations.REQUEST_SCHEMAS[operation.body]
    validator.validate(operation.body_example, partial=partial)
