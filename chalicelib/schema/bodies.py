"""Request-body JSON Schemas generated from :mod:`chalicelib.domain.fields`: one source for bodies.

Each field class says here, in JSON Schema, exactly what its ``clean`` accepts, so a
schema-driven fuzzer (and any client generator) sees the same rules the validator
applies: strings are trimmed (so whitespace-only is blank), NUL characters are refused,
numbers may come as JSON numbers or decimal strings (scientific notation included),
emails are Django's, and so on. Patterns are ECMA-262 that Python's ``re`` and Rust's
regex (Schemathesis's readers) read alike: no inline flags, classes as ranges of
characters below U+10000 (so the email and decimal patterns also read alike with and
without the ``u`` flag), and the whitespace that Python's ``str.strip`` removes spelled
out rather than ``\\s``, whose meaning differs between engines (``[\\s\\S]``, any
character, means the same everywhere).
"""
from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Iterable

from chalicelib.domain import fields as f

# Every character below U+10000 except the surrogates. Classes are spelled from this range:
# Char refuses lone surrogates before any format check, and an ECMA-262 engine without the
# ``u`` flag sees a character above U+FFFF as two surrogates, which must match nothing.
_BMP = "".join(chr(code) for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF)


def _escape(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\u{code:04x}"


def _ranges(chars: Iterable[str]) -> str:
    """The inside of a character class matching exactly ``chars`` (all in ``_BMP``)."""
    codes = sorted({ord(char) for char in chars})
    parts: list[str] = []
    start = previous = None
    for code in [*codes, None]:
        if previous is not None and code == previous + 1:
            previous = code
            continue
        if start is not None:
            parts.append(_escape(start) if start == previous
                         else f"{_escape(start)}-{_escape(previous)}")
        start = previous = code
    return "".join(parts)


def _class(chars: Iterable[str]) -> str:
    return f"[{_ranges(chars)}]"


# Exactly the characters ``str.strip()`` removes (those for which ``str.isspace()`` is true;
# there are none above U+FFFF).
_SPACE_CHARS = frozenset(char for char in _BMP if char.isspace())
_SPACES = _ranges(_SPACE_CHARS)
_W = f"[{_SPACES}]*"  # optional surrounding whitespace
_NUL = r"\u0000"

# Calendar days with real month lengths; 29 February only in leap years (below).
_DAY_OF_YEAR = ("(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
                "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
                "|02-(?:0[1-9]|1[0-9]|2[0-8]))")
# Timestamps: years 0002-9998, so that no offset can carry a value out of range.
_TS_YEAR = ("(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}"
            "|99[0-8][0-9]|999[0-8])")
_TS_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]+)?)?"
_OFFSET = "(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?"
DATETIME_PATTERN = (f"^(?:{_TS_YEAR}-{_DAY_OF_YEAR}|{_TS_LEAP_YEAR}-02-29)T{_TIME}{_OFFSET}$")

# Decimal strings are described for exponents up to this one (see ``_decimal_string``).
EXPONENT_LIMIT = 40


def _repeat(atom: str, low: int, high: int) -> str:
    """``atom`` repeated ``low`` to ``high`` times, in the shortest spelling."""
    if high == 0:
        return ""
    if low == high:
        return atom if low == 1 else f"{atom}{{{low}}}"
    return f"{atom}?" if (low, high) == (0, 1) else f"{atom}{{{low},{high}}}"


def _fraction(atom: str, most: int) -> str:
    """An optional point followed by at most ``most`` atoms."""
    return f"(?:\\.{_repeat(atom, 0, most)})?" if most else "\\.?"


def _mantissas(exponent: int, places: int, whole_limit: int, whole: int,
               power: int | None) -> tuple[list[str], list[str]]:
    """The mantissas (``I.F``, ``I``, ``I.``, ``.F``) accepted before ``e<exponent>``.

    Returns (non-negative values, zeros). The value is the digits of I and F times
    10**(exponent - len(F)); DRF's precision rule is that this exponent is at least
    -``places`` and that the significant digits plus it are at most ``whole_limit``
    (a zero has one significant digit). ``whole`` bounds the digits before the point of a
    value below the maximum; ``power`` (the maximum is 10**power) adds that value itself.
    """
    most = exponent + places  # digits F may have
    fewest_zero = max(0, exponent - whole_limit + 1)  # digits F must have when all zero
    positive: list[str] = []
    before = whole - exponent  # significant digits I may have
    if before >= 1:
        positive.append(f"0*[1-9]{_repeat('[0-9]', 0, before - 1)}{_fraction('[0-9]', most)}")
    if power is not None:
        ones = power + 1 - exponent  # the maximum, 1 followed by zeros
        if ones >= 1:
            positive.append(f"0*1{_repeat('0', ones - 1, ones - 1)}{_fraction('0', most)}")
        else:
            positive.append(f"0*\\.{_repeat('0', -ones, -ones)}1{_repeat('0', 0, power + places)}")
    # I all zeros or absent, F not empty: at least ``leading`` zeros before a significant
    # digit, or zeros only (fewer are fine then, down to ``fewest_zero``).
    leading = max(0, exponent - whole)
    after_point = []
    if most > leading:
        after_point.append(f"{_repeat('0', leading, leading)}{_repeat('[0-9]', 1, most - leading)}")
    if max(1, fewest_zero) <= min(leading, most):
        after_point.append(_repeat("0", max(1, fewest_zero), min(leading, most)))
    if after_point:
        positive.append(f"0*\\.(?:{'|'.join(after_point)})")
    if fewest_zero == 0:  # I zeros, F absent
        positive.append("0+\\.?")
        zeros = [f"0+{_fraction('0', most)}"] + ([f"\\.{_repeat('0', 1, most)}"] if most else [])
    else:
        zeros = [f"0*\\.{_repeat('0', fewest_zero, most)}"]
    return positive, zeros


def _exponent(exponent: int) -> str:
    if exponent == 0:
        return "(?:[eE][+-]?0+)?"
    return f"[eE]\\+?0*{exponent}" if exponent > 0 else f"[eE]-0*{-exponent}"


@functools.cache
def _decimal_string(places: int, whole_limit: int, power: int | None) -> str:
    """The decimal strings ``Decimal.clean`` accepts, one alternative per exponent.

    Not negative (but "-0" is zero), DRF's precision rule on the Decimal as written
    (``"1e2"`` has 3 digits, ``"100000000000e-10"`` 12), at most 10**power when given.
    Exact up to ``EXPONENT_LIMIT``, narrower past it: a pattern cannot compare a count of
    zeros with the number written after "e", so the exponents are enumerated, and a value
    the API accepts with exponent E > ``EXPONENT_LIMIT`` (it has at least E - whole_limit
    zeros after the point, e.g. "0." + 33 zeros + "1e41") is not described. Narrower,
    not wider: a fuzzer drawing from the pattern never meets a refusal, and one drawing
    outside it does not write 33 zeros before an exponent of 41.
    """
    whole = whole_limit if power is None else power
    alternatives = []
    for exponent in range(-places, EXPONENT_LIMIT + 1):
        positive, zeros = _mantissas(exponent, places, whole_limit, whole, power)
        signed = [f"\\+?(?:{'|'.join(positive)})"] if positive else []
        signed.append(f"-(?:{'|'.join(zeros)})")
        alternatives.append(f"(?:{'|'.join(signed)}){_exponent(exponent)}")
    return f"^{_W}(?:{'|'.join(alternatives)}){_W}$"


MONEY_STRING = _decimal_string(2, 8, None)
PERCENT_STRING = _decimal_string(2, 8, 2)


def _char(field: f.Char) -> dict:
    """Trimmed, then 1..max_length characters (0 when blank is allowed), no NUL.

    The length applies after trimming, so it is part of the pattern (the trimmed core
    runs from the first to the last non-space character) rather than a ``maxLength``.
    """
    edge = f"[^{_SPACES}{_NUL}]"
    if field.max_length is None:
        core = f"{edge}(?:[^{_NUL}]*{edge})?"
    elif field.max_length == 1:
        core = edge
    else:
        core = f"{edge}(?:[^{_NUL}]{{0,{field.max_length - 2}}}{edge})?"
    optional = "?" if field.allow_blank else ""
    schema: dict = {"type": "string", "pattern": f"^{_W}(?:{core}){optional}{_W}$"}
    if not field.allow_blank:
        schema["minLength"] = 1
    limit = f"at most {field.max_length} characters" if field.max_length else "any length"
    schema["description"] = (f"Trimmed of surrounding whitespace, then {limit}"
                             + (" (may be blank)." if field.allow_blank else ", not blank."))
    return schema


@functools.cache
def _members(python_class: str) -> frozenset[str]:
    """The characters a class of :mod:`chalicelib.domain.fields` matches as Django compiles it.

    Under ``re.IGNORECASE`` Python also matches "İ", "ı", "ſ" and the Kelvin sign where a
    class names ASCII letters, so the members are found by asking ``re`` itself. None lie
    above U+FFFF (``tests/schema/test_bodies.py`` checks the whole range).
    """
    return frozenset(re.findall(python_class, _BMP, re.IGNORECASE))


def _label(ends: frozenset[str], inner: frozenset[str]) -> str:
    """1-63 characters, the first and last from ``ends``: Django's hostname_re and domain_re."""
    return f"{_class(ends)}(?:{_class(inner)}{{0,61}}{_class(ends)})?"


def _ipv6_pattern(hextet: str, ipv4: str) -> str:
    """What :class:`ipaddress.IPv6Address` parses: 8 groups, "::" for one or more of them,
    an IPv4 address for the last two. (Django's length limit is applied in ``_email``.)"""
    def lead(count: int) -> str:  # ``count`` groups, each followed by a colon
        return _repeat(f"(?:{hextet}:)", count, count)

    def groups(count: int) -> str:
        return lead(count - 1) + hextet if count else ""

    forms = [groups(8), lead(6) + ipv4]
    for high in range(8):
        for low in range(8 - high):
            forms.append(f"{groups(high)}::{groups(low)}")
            if low >= 2:
                forms.append(f"{groups(high)}::{lead(low - 2)}{ipv4}")
    return "(?:" + "|".join(forms) + ")"


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"  # no leading zeros (ipaddress)
_IPV4 = f"(?:{_OCTET}\\.){{3}}{_OCTET}"
_IPV6 = _ipv6_pattern("[0-9A-Fa-f]{1,4}", _IPV4)
_LITERAL_CHARS = "[0-9A-Fa-f:.]"  # Django's literal_regex, case-insensitive


@functools.cache
def _email_address() -> str:
    """Django 6.1's ``EmailValidator`` (see ``fields.Email``) as one ECMA-262 expression.

    The trimmed address starts with its local part and ends with its domain, neither of
    which can start or end with whitespace here, so surrounding whitespace is unambiguous.
    Lengths (the field's maximum, Django's 39 characters of IPv6) are in ``_email``.
    """
    atext = _class(_members(f.EMAIL_ATEXT))
    local = (f"{atext}+(?:\\.{atext}+)*"
             f'|"(?:{_class(_members(f.EMAIL_QTEXT))}|\\\\{_class(_members(f.EMAIL_QUOTED_PAIR))})*"')
    label = _label(_members(f.EMAIL_HOST), _members(f.EMAIL_HOST_INNER))
    tld = _members(f.EMAIL_TLD)
    ends = tld - {"-"}  # Django's (?!-) and (?<!-)
    xn = "".join(_class(_members(char)) for char in "xn")
    # The last character of the address is not whitespace: that would have been trimmed.
    top = (f"{_class(ends)}{_class(tld)}{{0,61}}{_class(ends - _SPACE_CHARS)}"
           f"|{xn}--{_class(_members(f.EMAIL_PUNYCODE))}{{1,59}}")
    domain = (f"{label}(?:\\.{label})*\\.(?:{top})"
              f"|\\[(?:{_IPV4}|{_IPV6})\\]|{f.EMAIL_LOCALHOST}")
    return f"(?:{local})@(?:{domain})"


def _email(field: f.Email) -> dict:
    """Django's check on the trimmed address, and lengths a pattern spells badly, in ``not``.

    Exact: a string is accepted by ``field.clean`` exactly when it matches ``pattern`` and
    not ``not.pattern``. The trimmed length (from the first to the last non-space
    character, which ``maxLength`` cannot count) and an IPv6 literal longer than 39
    characters are what ``not`` refuses.
    """
    optional = "?" if field.allow_blank else ""
    limit = min(field.max_length or f.EMAIL_MAX_LENGTH, f.EMAIL_MAX_LENGTH)
    too_long = (f"[^{_SPACES}][\\s\\S]{{{limit - 1},}}[^{_SPACES}]"
                f"|@\\[{_LITERAL_CHARS}{{{f.EMAIL_MAX_IPV6 + 1},}}\\]{_W}$")
    return {"type": "string", "pattern": f"^{_W}(?:{_email_address()}){optional}{_W}$",
            "not": {"pattern": too_long},
            "description": (f"An email address, at most {limit} characters once trimmed of "
                            "surrounding whitespace, checked as Django's EmailValidator "
                            "does (internationalised domains as written, IP literals in "
                            "brackets)."),
            "examples": ["billing@globex.example"]}


def _decimal(field: f.Decimal) -> dict:
    if (field.max_digits, field.decimal_places, field.min_value) != (10, 2, 0) or \
            field.max_value not in (None, 100):
        raise NotImplementedError("only the contract's money and percentage decimals are described")
    if field.max_value is None:
        string, maximum = MONEY_STRING, float(10 ** (field.max_digits - field.decimal_places)) - 0.01
        example = "120.00"
    else:
        string, maximum, example = PERCENT_STRING, float(field.max_value), "21.00"
    return {"anyOf": [
        {"type": "string", "pattern": string, "examples": [example]},
        {"type": "number", "minimum": 0, "maximum": maximum, "multipleOf": 0.01},
    ], "description": ("A decimal string or a JSON number: not negative, at most 2 decimals "
                       f"and at most {maximum:.2f}. Scientific notation counts digits as "
                       "written: `\"1e2\"` is 100, `\"1.5e1\"` is 15.0, `\"1e-3\"` has 3 "
                       f"decimals (the pattern describes exponents up to {EXPONENT_LIMIT}). "
                       "Answered as a string with two decimals.")}


def field_schema(field: f.Field) -> dict:
    """The JSON Schema of the values ``field.clean`` accepts."""
    if isinstance(field, f.Email):
        schema = _email(field)
    elif isinstance(field, f.Currency):
        schema = {"type": "string", "pattern": f"^{_W}[A-Za-z]{{3}}{_W}$",
                  "description": "Three letters, any case; stored upper-case.", "examples": ["USD"]}
    elif isinstance(field, f.Char):
        schema = _char(field)
    elif isinstance(field, f.Boolean):
        schema = {"type": "boolean"}
    elif isinstance(field, f.Decimal):
        schema = _decimal(field)
    elif isinstance(field, f.UUIDList):
        schema = {"type": "array", "items": {"type": "string", "format": "uuid"}}
    elif isinstance(field, f.UUID):
        schema = {"type": "string", "format": "uuid"}
    elif isinstance(field, f.DateTime):
        schema = {"type": "string", "pattern": DATETIME_PATTERN,
                  "description": ("ISO 8601, e.g. `2026-06-26T09:00:00Z`: seconds and offset "
                                  "optional (none means UTC), fractions dropped."),
                  "examples": ["2026-06-26T09:00:00Z"]}
    elif isinstance(field, f.Date):
        schema = {"type": "string", "format": "date", "examples": ["2026-06-30"]}
    elif isinstance(field, f.Choice):
        schema = {"type": "string", "enum": list(field.choices)}
    elif isinstance(field, f.Integer):
        schema = {"type": "integer", "minimum": field.min_value, "maximum": field.max_value}
    else:
        raise NotImplementedError(f"no JSON Schema for {type(field).__name__}")
    if field.allow_null:
        schema = {"anyOf": [*schema["anyOf"], {"type": "null"}]} if "anyOf" in schema \
            else {"anyOf": [schema, {"type": "null"}]}
    default = field.default
    if default is not None and default is not f._MISSING:
        schema["default"] = str(default) if isinstance(default, decimal.Decimal) else default
    elif default is None and field.allow_null:
        schema["default"] = None
    return schema


def body_schema(schema: f.Schema, *, partial: bool = False) -> dict:
    """The request body of ``schema``: unknown keys are allowed (the API ignores them)."""
    result: dict = {"type": "object",
                    "properties": {name: field_schema(field) for name, field in schema.fields.items()}}
    required = [name for name, field in schema.fields.items() if field.required and not partial]
    if required:
        result["required"] = required
    return result
