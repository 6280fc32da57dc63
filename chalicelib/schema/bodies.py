"""Request-body JSON Schemas generated from :mod:`chalicelib.domain.fields`: one source for bodies.

Each field class says here, in JSON Schema, exactly what its ``clean`` accepts, so a
schema-driven fuzzer (and any client generator) sees the same rules the validator
applies: strings are trimmed (so whitespace-only is blank), NUL characters are refused,
numbers may come as JSON numbers or decimal strings, and so on. Patterns spell out the
whitespace that Python's ``str.strip`` removes rather than using ``\\s``, whose meaning
differs between regular-expression engines.
"""
from __future__ import annotations

import decimal

from chalicelib.domain import fields as f

# Exactly the characters ``str.strip()`` removes (those for which ``str.isspace()`` is true).
_SPACES = (r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029"
           r"\u202f\u205f\u3000")
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

# Decimal strings: not negative (but "-0" is zero), at most 8 digits before the point
# and 2 after; the number itself is checked the same way through ``multipleOf``.
_NEGATIVE_ZERO = r"-(?:0+(?:\.0{0,2})?|0*\.0{1,2})"


def _decimal_string(max_whole: str) -> str:
    return (f"^{_W}(?:\\+?(?:0*(?:{max_whole})(?:\\.[0-9]{{0,2}})?|0*\\.[0-9]{{1,2}})"
            f"|{_NEGATIVE_ZERO}){_W}$")


MONEY_STRING = _decimal_string("[0-9]{1,8}")
PERCENT_STRING = (f"^{_W}(?:\\+?(?:0*(?:[0-9]{{1,2}}(?:\\.[0-9]{{0,2}})?|100(?:\\.0{{0,2}})?)"
                  f"|0*\\.[0-9]{{1,2}})|{_NEGATIVE_ZERO}){_W}$")


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


def _email(field: f.Email) -> dict:
    """An address (or blank): described without surrounding whitespace, which is also trimmed."""
    part = f"[^@{_SPACES}{_NUL}"
    address = f"{part}]+@{part}.]+(?:\\.{part}.]+)+"
    optional = "?" if field.allow_blank else ""
    schema = {"type": "string", "pattern": f"^(?:{address}){optional}$",
              "description": "An email address (surrounding whitespace is trimmed).",
              "examples": ["billing@globex.example"]}
    if field.max_length is not None:
        schema["maxLength"] = field.max_length
    return schema


def _decimal(field: f.Decimal) -> dict:
    if field.max_value is None:
        string, maximum = MONEY_STRING, float(10 ** (field.max_digits - field.decimal_places)) - 0.01
        example = "120.00"
    else:
        string, maximum, example = PERCENT_STRING, float(field.max_value), "21.00"
    if (field.max_digits, field.decimal_places, field.min_value) != (10, 2, 0) or \
            field.max_value not in (None, 100):
        raise NotImplementedError("only the contract's money and percentage decimals are described")
    return {"anyOf": [
        {"type": "string", "pattern": string, "examples": [example]},
        {"type": "number", "minimum": 0, "maximum": maximum, "multipleOf": 0.01},
    ], "description": ("A decimal string or a JSON number: not negative, at most 2 decimals "
                       f"and at most {maximum:.2f}. Answered as a string with two decimals.")}


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
    if default is not None and not callable(default) and default is not f._MISSING:
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
