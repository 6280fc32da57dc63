"""Declarative request-body validation whose 400 messages are exactly DRF's, as the contract's are.

The contract (SPEC section 1) fixes Django REST Framework's wording for every field error,
so this module reproduces DRF's field semantics and messages directly. Not pydantic: its
messages ("Input should be a valid string", "Field required", ...) differ from the
contract's, and every one of them would need mapping back, per type and per constraint.

    PROJECT = Schema({"name": Char(max_length=255), "is_active": Boolean(default=False)})
    PROJECT.validate(body)  # create: defaults filled in; partial=True for PATCH

A field may also be used alone (e.g. for a query filter): ``UUID().clean(value)`` returns
the clean value or raises ``Invalid`` whose ``message`` is the DRF text.
"""
from __future__ import annotations

import decimal
import functools
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone

from chalicelib.domain.timestamps import to_utc
from chalicelib.errors import ValidationError

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_A_STRING = "Not a valid string."
MAX_LENGTH = "Ensure this field has no more than {n} characters."
NULL_CHARACTERS = "Null characters are not allowed."
SURROGATES = "Surrogate characters are not allowed: U+{code:X}."
NOT_A_BOOLEAN = "Must be a valid boolean."
NOT_A_NUMBER = "A valid number is required."
MAX_DIGITS = "Ensure that there are no more than {n} digits in total."
MAX_DECIMAL_PLACES = "Ensure that there are no more than {n} decimal places."
MAX_WHOLE_DIGITS = "Ensure that there are no more than {n} digits before the decimal point."
MIN_VALUE = "Ensure this value is greater than or equal to {n}."
MAX_VALUE = "Ensure this value is less than or equal to {n}."
NOT_A_UUID = "Must be a valid UUID."
NOT_A_DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
                  "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
NOT_A_DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
INVALID_CHOICE = '"{value}" is not a valid choice.'
NOT_AN_EMAIL = "Enter a valid email address."
NOT_A_LIST = 'Expected a list of items but got type "{type}".'
NOT_A_DICT = "Invalid data. Expected a dictionary, but got {type}."
NO_DATA = "No data provided"

_MISSING = object()
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_CURRENCY = re.compile(r"[A-Za-z]{3}", re.ASCII)
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                       r"(Z|[+-]\d{2}(?::?\d{2})?)?", re.ASCII)


class Invalid(Exception):
    """One field's failure; ``message`` is the DRF text reported under the field name."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Field:
    """Base field: presence, default and null handling; subclasses convert in ``to_python``."""

    def __init__(self, *, required: bool | None = None, default: object = _MISSING,
                 allow_null: bool = False):
        self.required = (default is _MISSING) if required is None else required
        self.default = default
        self.allow_null = allow_null

    def get_default(self) -> object:
        """The default value (a constant: a moment such as "now" comes from the service's
        clock, never from a default)."""
        return self.default

    def clean(self, value: object) -> object:
        """Validate one present value: null handling, then the type's conversion."""
        if value is None:
            if self.allow_null:
                return None
            raise Invalid(NULL)
        return self.to_python(value)

    def to_python(self, value: object) -> object:
        raise NotImplementedError


class Char(Field):
    """A string, trimmed; blank only with ``allow_blank``; at most ``max_length`` characters."""

    def __init__(self, *, max_length: int | None = None, allow_blank: bool = False, **kw):
        super().__init__(**kw)
        self.max_length = max_length
        self.allow_blank = allow_blank

    def to_python(self, value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(NOT_A_STRING)
        value = value.strip()
        if value == "":
            if self.allow_blank:
                return ""
            raise Invalid(BLANK)
        if self.max_length is not None and len(value) > self.max_length:
            raise Invalid(MAX_LENGTH.format(n=self.max_length))
        if "\x00" in value:
            raise Invalid(NULL_CHARACTERS)
        surrogate = _SURROGATE.search(value)  # a lone surrogate cannot be stored as UTF-8
        if surrogate:
            raise Invalid(SURROGATES.format(code=ord(surrogate.group())))
        return self.check(value)

    def check(self, value: str) -> str:
        """Format check on the trimmed, non-blank string (hook for subclasses)."""
        return value


# Django 6.1's EmailValidator (django/core/validators.py, 6.1.3), which DRF's EmailField
# runs on the trimmed string. Its character classes are named here because
# chalicelib.schema.bodies spells the same classes (as Python's re.IGNORECASE reads them)
# in the OpenAPI document; the regular expressions are Django's, built from them.
EMAIL_ATEXT = r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]"  # dot-atom characters
EMAIL_QTEXT = r"[\001-\010\013\014\016-\037!#-\[\]-\177]"  # quoted-string, unescaped
EMAIL_QUOTED_PAIR = r"[\001-\011\013\014\016-\177]"  # quoted-string, after a backslash
_UL = "\u00a1-\uffff"  # Django's "Unicode letters" range (not a raw string)
EMAIL_HOST = "[a-z" + _UL + "0-9]"  # a label's first and last character
EMAIL_HOST_INNER = "[a-z" + _UL + "0-9-]"
EMAIL_TLD = "[a-z" + _UL + "-]"  # the last label: no ASCII digits
EMAIL_PUNYCODE = "[a-z0-9]"  # after "xn--" in the last label
EMAIL_LOCALHOST = "localhost"  # Django's domain_allowlist
EMAIL_MAX_IPV6 = 39  # django.utils.ipv6.MAX_IPV6_ADDRESS_LENGTH
_EMAIL_USER = (
    r"(^" + EMAIL_ATEXT + r"+(\." + EMAIL_ATEXT + r"+)*\Z"  # dot-atom
    r'|^"(' + EMAIL_QTEXT + r"|\\" + EMAIL_QUOTED_PAIR + r')*"\Z)')  # quoted-string
_EMAIL_HOSTNAME = EMAIL_HOST + "(?:" + EMAIL_HOST_INNER + "{0,61}" + EMAIL_HOST + ")?"
# Max length for domain name labels is 63 characters per RFC 1034 sec. 3.1.
_EMAIL_LABELS = r"(?:\.(?!-)" + EMAIL_HOST_INNER + r"{1,63}(?<!-))*"
_EMAIL_TLD = (r"\.(?!-)(?:" + EMAIL_TLD + "{2,63}|xn--" + EMAIL_PUNYCODE + r"{1,59})(?<!-)")
_EMAIL_DOMAIN = r"^" + _EMAIL_HOSTNAME + _EMAIL_LABELS + _EMAIL_TLD + r"\Z"
_EMAIL_LITERAL = re.compile(r"\[([A-F0-9:.]+)\]\Z", re.IGNORECASE)  # SMTP 4.1.3
EMAIL_MAX_LENGTH = 320  # RFC 3696 section 3 (the field's own 254 applies first)


@functools.lru_cache(maxsize=None)
def _email_pattern(pattern: str) -> re.Pattern:
    """Compiled on first use: case-insensitive classes over \\u00a1-\\uffff take the
    compiler ~20 ms, which no request but an email's should pay (cold start)."""
    return re.compile(pattern, re.IGNORECASE)


def is_email(value: str) -> bool:
    """Django's ``EmailValidator()(value)`` passes: the address as DRF checks it, trimmed."""
    if not value or "@" not in value or len(value) > EMAIL_MAX_LENGTH:
        return False
    user_part, domain_part = value.rsplit("@", 1)
    if not _email_pattern(_EMAIL_USER).match(user_part):
        return False
    return domain_part == EMAIL_LOCALHOST or _is_email_domain(domain_part)


def _is_email_domain(domain_part: str) -> bool:
    """Django's ``validate_domain_part``: a domain name, or an IPv4/IPv6 literal in brackets."""
    if _email_pattern(_EMAIL_DOMAIN).match(domain_part):
        return True
    literal = _EMAIL_LITERAL.match(domain_part)
    if not literal:
        return False
    address = literal[1]
    try:  # Django's validate_ipv46_address
        ipaddress.IPv4Address(address)
        return True
    except ValueError:
        pass
    if len(address) > EMAIL_MAX_IPV6:  # django.utils.ipv6.is_valid_ipv6_address
        return False
    try:
        ipaddress.IPv6Address(address)
        return True
    except ValueError:
        return False


class Email(Char):
    """DRF's ``EmailField``: trimmed, at most 254 characters by default, then Django's check.

    Django 6.1's ``EmailValidator`` (ported above, not imported: the functions do not ship
    Django): a dot-atom or quoted-string local part; a domain of labels of at most 63
    characters (letters, digits, hyphens not at either end, and any character from U+00A1
    to U+FFFF: since Django 5.2 internationalised domains match as written, with no IDN
    step) ending in a label of 2-63 non-digit characters or ``xn--`` punycode, or
    ``localhost``, or an IPv4/IPv6 literal in brackets. Letters match in any case as
    Python's ``re.IGNORECASE`` reads them, so "ı", "ſ", "İ" and the Kelvin sign "K" count
    as ASCII letters, as they do in Django. The OpenAPI document describes exactly this,
    surrounding whitespace included (chalicelib.schema.bodies).
    """

    def __init__(self, *, max_length: int | None = 254, **kw):
        super().__init__(max_length=max_length, **kw)

    def check(self, value: str) -> str:
        if not is_email(value):
            raise Invalid(NOT_AN_EMAIL)
        return value


class Currency(Char):
    """Three ASCII letters in any case, returned upper-case.

    Anything else is reported with SPEC section 1's choice message ("x" is not a valid
    choice.): the contract's list of messages has none for currencies of their own.
    """

    def check(self, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            raise Invalid(INVALID_CHOICE.format(value=value))
        return value.upper()


class Boolean(Field):
    """JSON ``true`` or ``false`` only (no ``"true"``, ``1`` or ``"yes"``)."""

    def to_python(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise Invalid(NOT_A_BOOLEAN)
        return value


class Decimal(Field):
    """A non-negative decimal from a string or number, checked like DRF's DecimalField.

    DRF's forms, scientific notation included ("1e2", "1.5E+1"), with DRF's precision rule
    on the Decimal as written: "1e2" has 3 digits, "1.50" 2 decimals, "100000000000e-10"
    12 digits. Narrower than DRF on purpose: ASCII digits only, no "_" separators (Python's
    Decimal would take "1_000" and "١٢"). Not DRF's 1,000-character cap on the string: its
    message is not among the contract's, and the request cap bounds the work.
    The OpenAPI document (chalicelib.schema.bodies) describes these strings exactly for
    exponents up to ``bodies.EXPONENT_LIMIT`` (40); one accepted with a larger exponent
    (it needs 33+ zeros after the point) is accepted but not described.
    """

    def __init__(self, *, max_digits: int = 10, decimal_places: int = 2,
                 min_value: int | None = 0, max_value: int | None = None, **kw):
        super().__init__(**kw)
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        self.min_value = min_value
        self.max_value = max_value

    def to_python(self, value: object) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Invalid(NOT_A_NUMBER)
        try:  # str(int) raises ValueError past 4300 digits
            text = str(value).strip()
            if not _NUMBER.fullmatch(text):  # rejects NaN, Infinity, "1_000", non-ASCII digits
                raise Invalid(NOT_A_NUMBER)
            number = decimal.Decimal(text)
        except (decimal.InvalidOperation, ValueError) as exc:
            raise Invalid(NOT_A_NUMBER) from exc
        self._check_precision(number)
        if number.as_tuple().exponent > 0:  # "1e2" is Decimal("1E+2"): same value, as 100
            number = number.quantize(decimal.Decimal(1))
        if number.is_zero():  # "-0" would print as "-0.00"
            number = number.copy_abs()
        if self.min_value is not None and number < self.min_value:
            raise Invalid(MIN_VALUE.format(n=self.min_value))
        if self.max_value is not None and number > self.max_value:
            raise Invalid(MAX_VALUE.format(n=self.max_value))
        return number

    def _check_precision(self, number: decimal.Decimal) -> None:
        """DRF's ``validate_precision``: total digits, then decimals, then whole digits."""
        _, digits, exponent = number.as_tuple()
        if exponent >= 0:  # 1234500
            total, places = len(digits) + exponent, 0
        elif len(digits) > -exponent:  # 123.45
            total, places = len(digits), -exponent
        else:  # 0.001234
            total = places = -exponent
        if total > self.max_digits:
            raise Invalid(MAX_DIGITS.format(n=self.max_digits))
        if places > self.decimal_places:
            raise Invalid(MAX_DECIMAL_PLACES.format(n=self.decimal_places))
        max_whole = self.max_digits - self.decimal_places
        if total - places > max_whole:
            raise Invalid(MAX_WHOLE_DIGITS.format(n=max_whole))


class Money(Decimal):
    """Money and rates: at most 10 digits, 2 decimals, not negative (SPEC section 1)."""


NOT_AN_INTEGER = "A valid integer is required."


class Integer(Field):
    """A JSON integer between ``min_value`` and ``max_value`` (DRF's IntegerField messages): a
    number without a fraction (``1e3`` and ``86400.0`` too, as JSON Schema's ``integer``
    counts them); not a string, not a boolean."""

    def __init__(self, *, min_value: int, max_value: int, **kw):
        super().__init__(**kw)
        self.min_value = min_value
        self.max_value = max_value

    def to_python(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(NOT_AN_INTEGER)
        if isinstance(value, float):
            if not value.is_integer():  # fractions, and the infinities of 1e400
                raise Invalid(NOT_AN_INTEGER)
            value = int(value)
        if value < self.min_value:
            raise Invalid(MIN_VALUE.format(n=self.min_value))
        if value > self.max_value:
            raise Invalid(MAX_VALUE.format(n=self.max_value))
        return value


class UUID(Field):
    """A canonical hyphenated UUID string in any case, returned lower-case."""

    def to_python(self, value: object) -> str:
        if not isinstance(value, str) or not _UUID.fullmatch(value):
            raise Invalid(NOT_A_UUID)
        return str(uuid.UUID(value))


class UUIDList(Field):
    """A JSON array of UUIDs, returned lower-case with duplicates removed (order kept)."""

    def to_python(self, value: object) -> list[str]:
        if not isinstance(value, list):
            raise Invalid(NOT_A_LIST.format(type=type(value).__name__))
        item = UUID()
        return list(dict.fromkeys(item.to_python(each) for each in value))


class DateTime(Field):
    """ISO 8601 with ``T``; an offset or ``Z`` is converted, none means UTC; whole seconds."""

    def to_python(self, value: object) -> datetime:
        match = _DATETIME.fullmatch(value) if isinstance(value, str) else None
        if not match:
            raise Invalid(NOT_A_DATETIME)
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
        try:
            parsed = datetime(year, month, day, hour, minute, second,
                              tzinfo=_offset(match.group(7)))
            return to_utc(parsed)
        except (ValueError, OverflowError) as exc:
            raise Invalid(NOT_A_DATETIME) from exc


def _offset(text: str | None) -> timezone | None:
    """``Z``, ``+HH:MM``, ``+HHMM`` or ``+HH`` as a timezone; ``None`` when absent."""
    if text is None:
        return None
    if text == "Z":
        return timezone.utc
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if minutes > 59:
        raise ValueError("offset minutes out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)  # ValueError beyond ±24h


class Date(Field):
    """A calendar date written exactly ``YYYY-MM-DD``."""

    def to_python(self, value: object) -> date:
        match = _DATE.fullmatch(value) if isinstance(value, str) else None
        if not match:
            raise Invalid(NOT_A_DATE)
        try:
            return date(*(int(g) for g in match.groups()))
        except ValueError as exc:
            raise Invalid(NOT_A_DATE) from exc


class Choice(Field):
    """One of a fixed set of strings, matched exactly."""

    def __init__(self, choices: list[str] | tuple[str, ...], **kw):
        super().__init__(**kw)
        self.choices = tuple(choices)

    def to_python(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise Invalid(INVALID_CHOICE.format(value=value))
        return value


Validator = Callable[[dict], "Mapping[str, str] | None"]


class Schema:
    """Named fields plus cross-field validators; ``validate`` returns clean data or raises."""

    def __init__(self, fields: Mapping[str, Field], validators: list[Validator] | None = None):
        self.fields = dict(fields)
        self.validators = list(validators or [])

    def validate(self, body: object, *, partial: bool = False,
                 defaults: Mapping[str, object] | None = None) -> dict:
        """Clean ``body``; raise ``ValidationError`` listing every failing field.

        Full mode requires required fields and fills defaults (``defaults`` supplies those
        known only at request time, e.g. "now" from the caller's clock); ``partial``
        (PATCH) validates and returns only the keys present. Unknown keys are ignored.
        Validators run once all fields passed, on the dict about to be returned (partial:
        only the keys sent).
        """
        if body is None:
            raise ValidationError({"non_field_errors": NO_DATA})
        if not isinstance(body, Mapping):
            raise ValidationError({"non_field_errors": NOT_A_DICT.format(type=type(body).__name__)})
        clean: dict = {}
        errors: dict[str, str] = {}
        for name, field in self.fields.items():
            if name not in body:
                if partial:
                    continue
                if defaults and name in defaults:
                    clean[name] = defaults[name]
                elif field.required:
                    errors[name] = REQUIRED
                elif field.default is not _MISSING:
                    clean[name] = field.get_default()
                continue
            try:
                clean[name] = field.clean(body[name])
            except Invalid as exc:
                errors[name] = exc.message
        if not errors:
            for validator in self.validators:
                errors.update(validator(clean) or {})
        if errors:
            raise ValidationError(errors)
        return clean
