"""The request-body schemas say exactly what the validators accept (the fuzzer relies on it).

Three readers of each pattern must agree with the validator: jsonschema_rs (as Schemathesis
validates), Python's ``re`` (as Schemathesis and Hypothesis generate) and an ECMA-262
engine (Node.js, with and without the ``u`` flag), which is what the OpenAPI document
promises a client.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import fields as f
from chalicelib.domain import schemas
from chalicelib.schema import bodies, operations
from tests.domain.test_fields import (
    CONTROL_AND_DOTS,
    DJANGO_INVALID_EMAILS,
    DJANGO_VALID_EMAILS,
)

FIELDS = sorted({(name, prop): field
                 for name, (schema, _) in operations.REQUEST_SCHEMAS.items()
                 for prop, field in schema.fields.items()
                 if (name, prop) not in {k for k, v in operations.REQUEST_PROPERTY_NOTES.items()
                                         if "replace" in v}}.items())
# Characters that matter to the rules: whitespace of several kinds, NUL, digits, signs,
# separators of dates, numbers and emails, letters.
ALPHABET = (list("09 .+-:@TZeE\t\x00\u3000\x1c\u00a0aX[]\"")
            + ["12", "2024-02-29", "T10:00", "\u017f"])
settings_ = settings(max_examples=200, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def accepts(field: f.Field, value: object) -> bool:
    try:
        field.clean(value)
    except f.Invalid:
        return False
    return True


@functools.cache
def validator(field: f.Field):
    return jsonschema_rs.validator_for(bodies.field_schema(field), validate_formats=True)


def described(field: f.Field, value: object) -> bool:
    return validator(field).is_valid(value)


def beyond_exponent_limit(value: object) -> bool:
    """A decimal string with an exponent over ``bodies.EXPONENT_LIMIT``: never described."""
    match = re.fullmatch(r"[^eE]*[eE]([+-]?[0-9]+)", value.strip()) if isinstance(value, str) else None
    return bool(match) and int(match.group(1)) > bodies.EXPONENT_LIMIT


def known_difference(field: f.Field, value: object) -> bool:
    """Where the description is deliberately narrower than the validator (see bodies.py)."""
    if isinstance(field, f.DateTime) and isinstance(value, str):
        return value[:4] in ("0001", "9999")  # years an offset could push out of range
    return False


def agrees(field: f.Field, value: object) -> None:
    """The document accepts ``value`` exactly when the validator does; past the exponent
    limit (bodies.py) it accepts nothing, whatever the validator says."""
    if isinstance(field, f.Decimal) and beyond_exponent_limit(value):
        assert not described(field, value), value
    elif not known_difference(field, value):
        assert described(field, value) == accepts(field, value), value


@pytest.mark.parametrize("key, field", FIELDS, ids=[f"{n}.{p}" for (n, p), _ in FIELDS])
@settings_
@given(data=st.data())
def test_a_value_is_described_exactly_when_it_is_accepted(key, field, data):
    value = data.draw(st.one_of(
        st.lists(st.sampled_from(ALPHABET), max_size=8).map("".join),
        st.none(), st.booleans(), st.integers(-5, 10 ** 9), st.floats(-1, 1e9),
        st.sampled_from([0.07, 0.5700000000000001, 99999999.99, 100.0, 100.01, -0.0]),
    ))
    agrees(field, value)


PATTERNED = [(k, v) for k, v in FIELDS if "pattern" in bodies.field_schema(v)]


@functools.cache
def drawn_from_pattern(field: f.Field):
    """Strings Hypothesis draws from the field's pattern, as Schemathesis does (built once:
    the email pattern's large classes take about a second)."""
    pattern = bodies.field_schema(field)["pattern"]
    return st.from_regex(re.compile(pattern), fullmatch=True).filter(lambda v: described(field, v))


@pytest.mark.parametrize("key, field", PATTERNED, ids=[f"{n}.{p}" for (n, p), _ in PATTERNED])
@settings_
@given(data=st.data())
def test_strings_drawn_from_a_pattern_are_accepted(key, field, data):
    value = data.draw(drawn_from_pattern(field))
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


# --- Emails and decimal strings drawn by their structure ---------------------------------------

_PADDING = st.sampled_from(["", "", " ", "\t\n", "\u3000", "\u2028 "])
_LABEL_CHARS = st.sampled_from(list("aZ09-_x") + ["\u00f6", "\u6f22", "\u3000", "\u00a0", "\u017f",
                                                  "\u212a", "\u0130", "\U0001f600", "\u00a1",
                                                  "\uffff", "\ud7ff"])
_LABEL = st.one_of(
    st.text(_LABEL_CHARS, max_size=4),
    st.builds(lambda n, char, end: char * n + end, st.integers(60, 64),
              st.sampled_from(["a", "\u00f6", "1", "-"]), st.sampled_from(["", "a", "-", "1"])))
_TOP = st.one_of(_LABEL, st.builds(
    lambda xn, rest: xn + rest, st.sampled_from(["xn--", "XN--", "xN-", "xn-"]),
    st.one_of(st.text(st.sampled_from(list("a1-\u017f")), max_size=4),
              st.integers(57, 61).map(lambda n: "7" * n))))
_HOSTNAME = st.builds(lambda labels, top: ".".join([*labels, top]),
                      st.lists(_LABEL, max_size=3), _TOP)
_IPV6_WITH_IPV4 = st.builds(  # 23-45 characters, across Django's limit of 39
    lambda six, four, exploded: (six.exploded if exploded else six.compressed).rsplit(":", 2)[0]
    + f":{four}", st.ip_addresses(v=6), st.ip_addresses(v=4), st.booleans())
_ADDRESS = st.one_of(st.ip_addresses().map(str), st.ip_addresses(v=6).map(lambda a: a.exploded),
                     _IPV6_WITH_IPV4, st.text(st.sampled_from(list("0123456789aF:.")), max_size=12))
_LITERAL = st.builds(lambda address: f"[{address}]", _ADDRESS)
_QUOTED = st.builds(lambda body: f'"{"".join(body)}"', st.lists(st.sampled_from(
    ["a", " ", "\\\\", '\\"', "\x01", "\x7f", "\t", "\n", "\\\n", "\\\t", "@", "\u017f", "\u00e9",
     "\x0b", "\\ ", "\x00"]), max_size=5))
_LOCAL = st.one_of(
    st.text(st.sampled_from(list("a.Z0!#~'-+{|}`=?^_@ \"\\\u00e9") + ["\u017f", "\u212a", "\u0131"]),
            max_size=6),
    _QUOTED, st.integers(240, 256).map(lambda n: "x" * n))


@st.composite
def _mutated(draw, strategy):
    """A value with one character inserted, replaced or removed, one time in four."""
    value = draw(strategy)
    if value and draw(st.integers(0, 3)) == 0:
        at = draw(st.integers(0, len(value) - 1))
        value = (value[:at] + draw(st.sampled_from(["", "@", ".", "-", " ", "x", "\x00", "\U0001f600"]))
                 + value[at + draw(st.integers(0, 1)):])
    return value


EMAILS = st.one_of(
    _mutated(st.builds(lambda left, local, domain, right: f"{left}{local}@{domain}{right}",
                       _PADDING, _LOCAL,
                       st.one_of(_HOSTNAME, _LITERAL,
                                 st.sampled_from(["localhost", "LOCALHOST"])),
                       _PADDING)),
    st.text(st.sampled_from(list("a.@-[]: \"")), max_size=10))

_DIGITS = st.text(st.sampled_from("00001123456789"), max_size=12)
_EXPONENT = st.one_of(st.just(""), st.builds(
    lambda e, sign, lead, value: f"{e}{sign}{lead}{value}", st.sampled_from("eE"),
    st.sampled_from(["", "+", "-"]), st.sampled_from(["", "", "0", "00"]),
    st.one_of(st.integers(0, 12),
              st.integers(bodies.EXPONENT_LIMIT - 6, bodies.EXPONENT_LIMIT + 3))))
DECIMAL_STRINGS = st.one_of(
    st.builds(lambda left, sign, whole, point, zeros, fraction, exponent, right:
              f"{left}{sign}{whole}{'.' + zeros + fraction if point else ''}{exponent}{right}",
              _PADDING, st.sampled_from(["", "", "+", "-"]), _DIGITS, st.booleans(),
              st.integers(0, bodies.EXPONENT_LIMIT + 2).map(lambda n: "0" * n), _DIGITS,
              _EXPONENT, _PADDING),
    st.text(st.sampled_from(list("0123456789.eE+- _")), max_size=10))

EMAIL_FIELDS = [(k, v) for k, v in FIELDS if isinstance(v, f.Email)]
DECIMAL_FIELDS = [(k, v) for k, v in FIELDS if isinstance(v, f.Decimal)]
structured = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("key, field", EMAIL_FIELDS, ids=[f"{n}.{p}" for (n, p), _ in EMAIL_FIELDS])
@structured
@given(value=EMAILS)
def test_an_email_is_described_exactly_when_it_is_accepted(key, field, value):
    agrees(field, value)


@pytest.mark.parametrize("key, field", DECIMAL_FIELDS,
                         ids=[f"{n}.{p}" for (n, p), _ in DECIMAL_FIELDS])
@structured
@given(value=DECIMAL_STRINGS)
def test_a_decimal_string_is_described_exactly_when_it_is_accepted(key, field, value):
    agrees(field, value)


EMAIL = f.Email()
MONEY = f.Money()
PERCENT = f.Decimal(max_value=Decimal(100))


@pytest.mark.parametrize("value", DJANGO_VALID_EMAILS + ["\u017f@b.co", "\u212a@b.co", "a@b.c\u3000d"])
def test_django_valid_emails_are_described(value):
    assert accepts(EMAIL, value) and described(EMAIL, value)


@pytest.mark.parametrize("value", DJANGO_INVALID_EMAILS + CONTROL_AND_DOTS + ["a@b.c\u3000"])
def test_django_invalid_emails_are_not_described(value):
    assert not accepts(EMAIL, value) and not described(EMAIL, value)


def test_email_lengths_are_described_at_their_limits():
    longest = "a" * 249 + "@b.co"
    for value, valid in [(longest, True), (f" \t{longest}\u3000\u3000", True),
                         ("a" + longest, False), (f"  a{longest} ", False),
                         ("a@[0000:0000:0000:0000:0000:ffff:1.2.34.56]", True),
                         ("a@[0000:0000:0000:0000:0000:ffff:1.23.45.67]", False),
                         ("a@[0000:0000:0000:0000:0000:ffff:1.23.45.67] ", False),
                         ("a@b." + "c" * 63, True), ("a@b." + "c" * 64, False),
                         ("a@" + "b" * 63 + ".cc", True), ("a@" + "b" * 64 + ".cc", False),
                         ("a@b.xn--" + "7" * 59, True), ("a@b.xn--" + "7" * 60, False)]:
        assert accepts(EMAIL, value) == described(EMAIL, value) == valid, value


@pytest.mark.parametrize("field, value, valid", [
    (MONEY, "1e2", True), (MONEY, "1.5E+1", True), (MONEY, " 2.50e-0\t", True),
    (MONEY, "9.999999999e7", True), (MONEY, "9.9999999999e7", False),  # the largest; a digit more
    (MONEY, "99999999e0", True), (MONEY, "1e8", False),
    (MONEY, "9999999999e-2", True), (MONEY, "99999999999e-3", False),
    (MONEY, "100000000000e-10", False), (MONEY, "1e-2", True), (MONEY, "1e-3", False),
    (MONEY, "0e7", True), (MONEY, "0e8", False), (MONEY, "0.0e8", True), (MONEY, "-0e5", True),
    (MONEY, "-1e-2", False), (MONEY, "1.e2", True), (MONEY, ".5E+001", True),
    (MONEY, "0." + "0" * (bodies.EXPONENT_LIMIT - 8) + "1e" + str(bodies.EXPONENT_LIMIT), True),
    (MONEY, "0." + "0" * (bodies.EXPONENT_LIMIT - 9) + "1e" + str(bodies.EXPONENT_LIMIT), False),
    (PERCENT, "1e2", True), (PERCENT, "1.00E+2", True), (PERCENT, "0.001e5", True),
    (PERCENT, "1.0001e2", False), (PERCENT, "1e3", False), (PERCENT, "99.99e0", True),
    (PERCENT, "9.9999e1", False), (PERCENT, "100.00", True), (PERCENT, "100.01", False),
])
def test_exponents_are_described_at_their_limits(field, value, valid):
    assert accepts(field, value) == described(field, value) == valid


def test_past_the_exponent_limit_accepted_but_not_described():
    limit = bodies.EXPONENT_LIMIT
    value = "0." + "0" * (limit - 7) + "1e" + str(limit + 1)
    assert accepts(MONEY, value) and not described(MONEY, value)


def test_email_classes_have_no_members_above_the_bmp():
    """``bodies`` probes the classes below U+10000 only: nothing above matches them."""
    astral = "".join(chr(code) for code in range(0x10000, sys.maxunicode + 1))
    for python_class in [f.EMAIL_ATEXT, f.EMAIL_QTEXT, f.EMAIL_QUOTED_PAIR, f.EMAIL_HOST,
                         f.EMAIL_HOST_INNER, f.EMAIL_TLD, f.EMAIL_PUNYCODE, "x", "n"]:
        assert not re.search(python_class, astral, re.IGNORECASE), python_class
    assert not any(char.isspace() for char in astral)


# --- The same answers from an ECMA-262 engine (Node.js), with and without the u flag ----------

_ECMA = r"""
const seen = new Map();
const compiled = (source, flags) => {
  const key = flags + "/" + source;
  if (!seen.has(key)) seen.set(key, new RegExp(source, flags));
  return seen.get(key);
};
require("readline").createInterface({input: process.stdin}).on("line", (line) => {
  const [pattern, not, value] = JSON.parse(line);
  const verdict = (flags) => compiled(pattern, flags).test(value) &&
    !(not !== null && compiled(not, flags).test(value));
  process.stdout.write(JSON.stringify([verdict(""), verdict("u")]) + "\n");
});
"""


@pytest.fixture(scope="module")
def ecma():
    """Whether a string matches a field's string patterns, as a JavaScript client reads them."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (an ECMA-262 engine) is missing: run "
                    "scripts/ensure-debian-packages.sh nodejs:node (make test does)")
    process = subprocess.Popen([node, "-e", _ECMA], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def matches(field: f.Field, value: str) -> list[bool]:
        schema = bodies.field_schema(field)
        string = next(s for s in [schema, *schema.get("anyOf", [])] if "pattern" in s)
        process.stdin.write(json.dumps([string["pattern"], string.get("not", {}).get("pattern"),
                                        value]) + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    yield matches
    process.stdin.close()
    assert process.wait(timeout=10) == 0


def ecma_agrees(ecma, field: f.Field, value: str) -> None:
    if known_difference(field, value):
        return
    beyond = isinstance(field, f.Decimal) and beyond_exponent_limit(value)
    expected = False if beyond else accepts(field, value)
    assert ecma(field, value) == [expected, expected], value


STRING_FIELDS = [(k, v) for k, v in FIELDS
                 if isinstance(v, (f.Char, f.Decimal, f.DateTime))]


@pytest.mark.parametrize("key, field", STRING_FIELDS, ids=[f"{n}.{p}" for (n, p), _ in STRING_FIELDS])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_ecma_engine_reads_the_patterns_as_the_validators_decide(ecma, key, field, data):
    strategies = [st.lists(st.sampled_from(ALPHABET), max_size=8).map("".join)]
    if isinstance(field, f.Email):
        strategies.append(EMAILS)
    if isinstance(field, f.Decimal):
        strategies.append(DECIMAL_STRINGS)
    ecma_agrees(ecma, field, data.draw(st.one_of(strategies)))


@pytest.mark.parametrize("value", DJANGO_VALID_EMAILS + DJANGO_INVALID_EMAILS + CONTROL_AND_DOTS)
def test_an_ecma_engine_reads_djangos_examples_alike(ecma, value):
    ecma_agrees(ecma, EMAIL, value)
