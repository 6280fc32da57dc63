"""JSON Schema pieces (OpenAPI 3.1 dialect) for what the API sends: ids, times, money, errors.

Plain dicts with no imports beyond the standard library: the pieces the response
schemas (:mod:`.responses`) and the document's shared components (:mod:`.document`) use.
"""
from __future__ import annotations

UUID = {"type": "string", "format": "uuid"}
DATE = {"type": "string", "format": "date"}
# Output timestamps: always UTC, whole seconds, ``Z`` (SPEC section 1).
TIMESTAMP = {"type": "string", "format": "date-time",
             "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
             "examples": ["2026-06-26T09:00:00Z"]}
# Output money and rates: a string with exactly two decimals.
MONEY = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "examples": ["120.00"]}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["USD"]}


def nullable(schema: dict) -> dict:
    """``schema`` or JSON ``null`` (OpenAPI 3.1 spells it as a type union)."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    result = {**schema, "type": [*types, "null"]}
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    return result


def obj(properties: dict[str, dict], *, description: str = "") -> dict:
    """An object with exactly these properties, all present (the contract's shapes are fixed)."""
    schema = {"type": "object", "required": list(properties), "properties": properties,
              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


# Error bodies (SPEC section 1): {"detail": "..."} or a list of messages per field.
DETAIL = obj({"detail": {"type": "string"}},
             description='An error with one message: `{"detail": "Not found."}`.')
FIELD_ERRORS = {
    "type": "object",
    "description": ('Validation errors: every failing field (or header, or query filter) with '
                    'its messages; `non_field_errors` when the body is not a JSON object.'),
    "minProperties": 1,
    "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "examples": [{"period_start": ["This field is required."],
                  "client_id": ["This field is required."]}],
}
