"""Behaviour of the DRF-compatible request validator (exact contract messages)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from chalicelib.domain import fields as f
from chalicelib.errors import ValidationError

U1 = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
U2 = "a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

PROJECT = f.Schema({
    "name": f.Char(max_length=255),
    "is_active": f.Boolean(default=False),
    "currency": f.Currency(default="USD"),
    "hourly_rate": f.Money(allow_null=True, default=None),
    "client_id": f.UUID(allow_null=True, default=None),
})

DATETIME_MSG = ("Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
DATE_MSG = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."


def errors_of(schema: f.Schema, body: object, **kw) -> dict:
    with pytest.raises(ValidationError) as info:
        schema.validate(body, **kw)
    assert info.value.status_code == 400
    return info.value.body()


def one(field: f.Field, value: object) -> object:
    """Validate a single value through a schema, as a request body would be."""
    return f.Schema({"x": field}).validate({"x": value})["x"]


def error(field: f.Field, value: object) -> str:
    body = errors_of(f.Schema({"x": field}), {"x": value})
    assert list(body) == ["x"] and len(body["x"]) == 1
    return body["x"][0]


# --- Schema: full vs partial, defaults, unknown keys, all errors at once ---------------

def test_full_fills_defaults_and_ignores_unknown_keys():
    clean = PROJECT.validate({"name": "  Website  ", "id": "x", "status": "paid"})
    assert clean == {"name": "Website", "is_active": False, "currency": "USD",
                     "hourly_rate": None, "client_id": None}


def test_full_round_trips_valid_values():
    body = {"name": "Site", "is_active": True, "currency": "eur",
            "hourly_rate": "120.00", "client_id": U1.upper()}
    assert PROJECT.validate(body) == {"name": "Site", "is_active": True, "currency": "EUR",
                                      "hourly_rate": Decimal("120.00"), "client_id": U1}


def test_missing_required_field():
    assert errors_of(PROJECT, {}) == {"name": ["This field is required."]}


def test_partial_returns_only_present_keys_and_requires_nothing():
    assert PROJECT.validate({}, partial=True) == {}
    assert PROJECT.validate({"is_active": True, "other": 1}, partial=True) == {"is_active": True}
    assert PROJECT.validate({"hourly_rate": None}, partial=True) == {"hourly_rate": None}


def test_partial_still_validates_present_keys():
    assert errors_of(PROJECT, {"name": None, "is_active": "yes"}, partial=True) == {
        "name": ["This field may not be null."], "is_active": ["Must be a valid boolean."]}


def test_all_failing_fields_reported_together():
    body = {"name": "", "is_active": 1, "currency": "EURO", "hourly_rate": "-1",
            "client_id": "nope"}
    assert errors_of(PROJECT, body) == {
        "name": ["This field may not be blank."],
        "is_active": ["Must be a valid boolean."],
        "currency": ['"EURO" is not a valid choice.'],
        "hourly_rate": ["Ensure this value is greater than or equal to 0."],
        "client_id": ["Must be a valid UUID."],
    }


def test_optional_field_without_default_is_absent():
    schema = f.Schema({"end_time": f.DateTime(required=False)})
    assert schema.validate({}) == {}


def test_required_with_default_can_be_forced():
    schema = f.Schema({"x": f.Char(required=True, default="d")})
    assert errors_of(schema, {}) == {"x": ["This field is required."]}


def test_null_rejected_unless_allowed():
    assert error(f.Char(), None) == "This field may not be null."
    assert error(f.Money(), None) == "This field may not be null."
    assert one(f.DateTime(allow_null=True), None) is None


@pytest.mark.parametrize("body, kind", [([], "list"), ("x", "str"), (3, "int"), (True, "bool")])
def test_body_must_be_an_object(body, kind):
    assert errors_of(PROJECT, body) == {
        "non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}


def test_cross_field_validators_run_after_fields_pass():
    def end_after_start(clean):
        if clean.get("end") and clean["end"] < clean["start"]:
            return {"end": "End time must not be before start time."}
        return None

    schema = f.Schema({"start": f.DateTime(), "end": f.DateTime(required=False)},
                      validators=[end_after_start])
    assert schema.validate({"start": "2026-06-26T10:00Z", "end": "2026-06-26T10:00Z"})
    assert errors_of(schema, {"start": "2026-06-26T10:00Z", "end": "2026-06-26T09:00Z"}) == {
        "end": ["End time must not be before start time."]}
    # field errors win: the validator never sees a partly clean body
    assert errors_of(schema, {"start": "bad", "end": "2026-06-26T09:00Z"}) == {
        "start": [DATETIME_MSG]}


# --- Char / Email -----------------------------------------------------------------------

@pytest.mark.parametrize("value", [5, 1.5, True, False, [], ["a"], {}, {"a": 1}])
def test_char_rejects_non_strings(value):
    assert error(f.Char(), value) == "Not a valid string."


@pytest.mark.parametrize("value, expected", [("a", "a"), ("  a b \n", "a b"), ("\tÜñï ", "Üñï")])
def test_char_strips(value, expected):
    assert one(f.Char(), value) == expected


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_char_blank(value):
    assert error(f.Char(), value) == "This field may not be blank."
    assert one(f.Char(allow_blank=True), value) == ""


def test_char_max_length_counts_after_strip():
    assert one(f.Char(max_length=3), "  abc  ") == "abc"
    assert error(f.Char(max_length=3), "abcd") == "Ensure this field has no more than 3 characters."
    assert (error(f.Char(max_length=10000), "x" * 10001)
            == "Ensure this field has no more than 10000 characters.")


def test_char_rejects_characters_that_cannot_be_stored():
    assert error(f.Char(), "a\x00b") == "Null characters are not allowed."
    assert error(f.Char(), "a\ud800") == "Surrogate characters are not allowed: U+D800."


# Django's own examples: tests/validators/tests.py, the validate_email entries of TEST_DATA
# (Django 5.2-6.1, whose EmailValidator fields.Email ports), and DRF's tests/test_fields.py
# TestEmailField (" example@example.com " passes: DRF trims first).
DJANGO_VALID_EMAILS = [
    "email@here.com", "weirder-email@here.and.there.com", "email@[127.0.0.1]",
    "email@[2001:dB8::1]", "email@[2001:dB8:0:0:0:0:0:1]", "email@[::fffF:127.0.0.1]",
    "example@valid-----hyphens.com", "example@valid-with-hyphens.com",
    "test@domain.with.idn.tld.उदाहरण.परीक्षा", "email@localhost", '"test@test"@example.com',
    f"example@atm.{'a' * 63}", f"example@{'a' * 63}.atm",
    f"example@{'a' * 63}.{'b' * 10}.atm", "email@xn--4ca9at.com", "email@öäü.com",
    "email@עִתוֹן.example.il", "email@މިހާރު.example.mv", "email@漢字.example.com",
    "editor@މިހާރު.example.mv", '"\\\011"@here.com', f"a@{'a' * 63}.us",
    "example@example.com", " example@example.com ",
    # Django refuses these four for their newline; DRF trims it away first.
    "a@b.com\n", "a@[127.0.0.1]\n", "\na@b.com", "\t a@b.co \u3000",
]
DJANGO_INVALID_EMAILS = [
    "abc", "abc@", "abc@bar", "a @x.cz", "abc@.com", "something@@somewhere.com",
    "email@127.0.0.1", "email@[127.0.0.256]", "email@[2001:db8::12345]",
    "email@[2001:db8:0:0:0:0:1]", "email@[::ffff:127.0.0.256]", "email@[2001:dg8::1]",
    "email@[2001:dG8:0:0:0:0:0:1]", "email@[::fTzF:127.0.0.1]", "example@invalid-.com",
    "example@-invalid.com", "example@invalid.com-", "example@inv-.alid-.com",
    "example@inv-.-alid.com", 'test@example.com\n\n<script src="x.js">', "@domain.com",
    "email.domain.com", "email@domain@domain.com", "email@domain..com", "email@.domain.com",
    "email@-domain.com", "email@domain-.com", "email@domain.com-", '"\\\012"@here.com',
    "trailingdot@shouldfail.com.", f"a@{'a' * 64}.us", f"example@atm.{'a' * 64}",
    f"example@{'b' * 64}.atm.{'a' * 63}", "a\n@b.com", '"test@test"\n@example.com',
    "email@localdomain",  # valid in Django's list only with allowlist=["localdomain"]
    "examplecom",  # DRF's
]
# Issue 13: accepted before this port, refused by Django.
CONTROL_AND_DOTS = ["a\x01@b.co", ".a@b.co", "a..b@c.co", "a@b.-"]


@pytest.mark.parametrize("value", DJANGO_VALID_EMAILS)
def test_email_valid_as_in_django(value):
    assert one(f.Email(), value) == value.strip()


@pytest.mark.parametrize("value", DJANGO_INVALID_EMAILS + CONTROL_AND_DOTS)
def test_email_invalid_as_in_django(value):
    assert error(f.Email(), value) == "Enter a valid email address."


@pytest.mark.parametrize("value", ["a@b.co", "billing@globex.example", "first.last+tag@x.y.zz",
                                   "!#$%&'*+/=?^_`{}|~-@b.co", '"a\\"b@c"@d.ef', "a@b.c-d",
                                   "a@b.xn--p1ai", "a@b." + "xn--" + "1" * 59,
                                   "a@[::]", "a@[1:2:3:4:5:6:7::]", "a@[::ffff:1.2.3.4]"])
def test_email_valid(value):
    assert one(f.Email(), f"  {value} ") == value


@pytest.mark.parametrize("value", ["plain", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@b .co",
                                   "a@.co", "a@b.", "a@b..co", "a.@b.co", "é@b.co", '"a b"@c.de',
                                   "a@b.c", "a@b.c1", "a@b.xn--" + "1" * 60, "a@b_c.de",
                                   "a@LOCALHOST", "a@xn--p1ai", "a@[1.2.3]", "a@[01.2.3.4]", "a@[1::2::3]",
                                   "a@[1:2:3:4:5:6:7:8:9]", "a@[1:2:3:4:5:6:1.2.3.4:5]",
                                   "a@b.c\u3000", "a@b.😀o", "😀@b.co"])
def test_email_invalid(value):
    assert error(f.Email(), value) == "Enter a valid email address."


def test_email_letters_are_ascii_as_python_ignorecase_reads_them():
    # Django compiles [A-Z] with re.IGNORECASE, which Python extends to these four.
    for letter in ["ſ", "ı", "İ", "\u212a"]:
        assert one(f.Email(), f"{letter}@b.co") == f"{letter}@b.co"
    assert one(f.Email(), "a@b.c\u3000d") == "a@b.c\u3000d"  # U+00A1-U+FFFF are letters


def test_email_blank_and_length():
    assert error(f.Email(), "") == "This field may not be blank."
    schema = f.Schema({"email": f.Email(allow_blank=True, default="")})
    assert schema.validate({}) == {"email": ""}
    assert schema.validate({"email": "  "}) == {"email": ""}
    longest = "a" * 249 + "@b.co"
    assert one(f.Email(), f" \t{longest}\u3000") == longest
    assert error(f.Email(), "a" + longest) == "Ensure this field has no more than 254 characters."
    assert (error(f.Email(), f"example@{('a' * 63 + '.') * 100}com")
            == "Ensure this field has no more than 254 characters.")
    assert error(f.Email(), 5) == "Not a valid string."


def test_email_ipv6_literal_at_most_39_characters():
    longest = "0000:0000:0000:0000:0000:ffff:1.2.34.56"
    assert len(longest) == 39 and one(f.Email(), f"a@[{longest}]") == f"a@[{longest}]"
    assert error(f.Email(), "a@[0000:0000:0000:0000:0000:ffff:1.23.45.67]") == \
        "Enter a valid email address."  # a valid address, one character too long for Django


# --- Boolean ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [True, False])
def test_boolean_valid(value):
    assert one(f.Boolean(), value) is value


@pytest.mark.parametrize("value", [1, 0, "true", "false", "", [], {}, 1.0])
def test_boolean_invalid(value):
    assert error(f.Boolean(), value) == "Must be a valid boolean."


# --- Money / Decimal ------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("120", Decimal("120")), ("120.00", Decimal("120.00")), (120, Decimal("120")),
    (0.1, Decimal("0.1")), (1.25, Decimal("1.25")), ("  7.5 ", Decimal("7.5")),
    ("0", Decimal("0")), (0, Decimal("0")), ("1.00", Decimal("1.00")), ("-0", Decimal("0")),
    ("1e2", Decimal("100")), (".5", Decimal("0.5")),
    ("99999999.99", Decimal("99999999.99")), ("12345678", Decimal("12345678")),
])
def test_money_valid_is_exact(value, expected):
    result = one(f.Money(), value)
    assert isinstance(result, Decimal)
    assert result == expected and str(result) == str(expected)


@pytest.mark.parametrize("value", [True, False, "abc", "", "  ", "1,5", "1_000", "NaN", "nan",
                                   "Infinity", "-inf", float("nan"), float("inf"), [], {},
                                   ["1"], "١٢", "1.2.3", "0x10", "1e99999999999999999999"])
def test_money_not_a_number(value):
    assert error(f.Money(), value) == "A valid number is required."


def test_money_huge_int_is_not_a_500():
    assert error(f.Money(), 10 ** 5000) == "A valid number is required."


@pytest.mark.parametrize("value, message", [
    ("1.005", "Ensure that there are no more than 2 decimal places."),
    (1.005, "Ensure that there are no more than 2 decimal places."),
    ("0.001", "Ensure that there are no more than 2 decimal places."),
    ("1.500", "Ensure that there are no more than 2 decimal places."),
    ("12345678901", "Ensure that there are no more than 10 digits in total."),
    ("1234567890.12", "Ensure that there are no more than 10 digits in total."),
    (12345678901, "Ensure that there are no more than 10 digits in total."),
    ("1e20", "Ensure that there are no more than 10 digits in total."),
    ("123456789", "Ensure that there are no more than 8 digits before the decimal point."),
    ("1234567890", "Ensure that there are no more than 8 digits before the decimal point."),
    ("-1", "Ensure this value is greater than or equal to 0."),
    (-0.01, "Ensure this value is greater than or equal to 0."),
])
def test_money_limits(value, message):
    assert error(f.Money(), value) == message


# Exponent notation, counted as DRF counts the Decimal as written: its own digits, and
# its exponent less the digits after the point.
@pytest.mark.parametrize("value, expected", [
    ("1e2", Decimal("100")), ("1.5E+1", Decimal("15")), ("1E-2", Decimal("0.01")),
    ("9.999999999e7", Decimal("99999999.99")),  # the largest, with an exponent
    ("9999999999e-2", Decimal("99999999.99")), ("99999999E0", Decimal("99999999")),
    ("0.0000000001e8", Decimal("0.01")), ("0.1e-1", Decimal("0.01")),
    ("0e7", Decimal("0")), ("0.0e8", Decimal("0")), ("-0e-2", Decimal("0.00")),
    ("1.e2", Decimal("100")), (".5E+001", Decimal("5")), ("  +2.50e-0 ", Decimal("2.50")),
])
def test_money_exponents(value, expected):
    result = one(f.Money(), value)
    assert result == expected and str(result) == str(expected)


@pytest.mark.parametrize("value, message", [
    ("1e8", "Ensure that there are no more than 8 digits before the decimal point."),
    ("9.9999999999e7", "Ensure that there are no more than 10 digits in total."),
    ("99999999999e-3", "Ensure that there are no more than 10 digits in total."),
    ("100000000000e-10", "Ensure that there are no more than 10 digits in total."),
    ("1e-3", "Ensure that there are no more than 2 decimal places."),
    ("10e-3", "Ensure that there are no more than 2 decimal places."),  # 0.01, as written
    ("0.00000000001e8", "Ensure that there are no more than 2 decimal places."),
    ("0e8", "Ensure that there are no more than 8 digits before the decimal point."),
    ("-1e-2", "Ensure this value is greater than or equal to 0."),
    ("1e", "A valid number is required."), ("e2", "A valid number is required."),
    ("1e2.5", "A valid number is required."), ("1e+-2", "A valid number is required."),
])
def test_money_exponents_past_the_limits(value, message):
    assert error(f.Money(), value) == message


def test_decimal_max_value():
    tax = f.Decimal(max_value=100)
    assert one(tax, "100") == Decimal("100")
    assert one(tax, "100.00") == Decimal("100.00")
    assert one(tax, 21) == Decimal("21")
    assert error(tax, "100.01") == "Ensure this value is less than or equal to 100."
    assert error(tax, 101) == "Ensure this value is less than or equal to 100."
    assert error(tax, "-0.5") == "Ensure this value is greater than or equal to 0."
    assert error(tax, "2.555") == "Ensure that there are no more than 2 decimal places."
    assert one(tax, "1e2") == Decimal("100") and one(tax, "1.00E+2") == Decimal("100.00")
    assert one(tax, "0.001e5") == Decimal("100")
    assert error(tax, "1.0001e2") == "Ensure this value is less than or equal to 100."
    assert error(tax, "1e3") == "Ensure this value is less than or equal to 100."


def test_decimal_default_not_validated_or_rounded():
    schema = f.Schema({"tax_rate": f.Decimal(max_value=100, default=Decimal("0"))})
    assert schema.validate({}) == {"tax_rate": Decimal("0")}


# --- Currency -------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [("USD", "USD"), ("eur", "EUR"), (" gBp ", "GBP")])
def test_currency_valid(value, expected):
    assert one(f.Currency(), value) == expected


@pytest.mark.parametrize("value", ["US", "USDX", "U1D", "€UR", "ÜSD", "U D", "12 3"])
def test_currency_invalid(value):
    assert error(f.Currency(), value) == f'"{value.strip()}" is not a valid choice.'


@pytest.mark.parametrize("value", [840, True, ["USD"]])
def test_currency_not_a_string(value):
    assert error(f.Currency(), value) == "Not a valid string."


# --- UUID / UUIDList ------------------------------------------------------------------------

@pytest.mark.parametrize("value", [U1, U1.upper(), U2])
def test_uuid_valid_is_lowercased(value):
    assert one(f.UUID(), value) == value.lower()


@pytest.mark.parametrize("value", ["", "nope", U1.replace("-", ""), "{" + U1 + "}",
                                   "urn:uuid:" + U1, U1[:-1], U1 + "0", U1[:-1] + "g",
                                   123, True, [U1], {"id": U1}])
def test_uuid_invalid(value):
    assert error(f.UUID(), value) == "Must be a valid UUID."


def test_uuid_list_lowercases_and_deduplicates_in_order():
    assert one(f.UUIDList(), [U2.upper(), U1, U2]) == [U2, U1]
    assert one(f.UUIDList(), []) == []


@pytest.mark.parametrize("value, kind", [("x", "str"), (U1, "str"), (1, "int"), (1.5, "float"),
                                         (True, "bool"), ({"a": U1}, "dict")])
def test_uuid_list_not_a_list(value, kind):
    assert error(f.UUIDList(), value) == f'Expected a list of items but got type "{kind}".'


@pytest.mark.parametrize("value", [["x"], [U1, "x", "y"], [U1, None], [U1, 5]])
def test_uuid_list_bad_item_reported_once(value):
    assert error(f.UUIDList(), value) == "Must be a valid UUID."


# --- DateTime / Date --------------------------------------------------------------------------

def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, expected", [
    ("2026-06-26T09:00:00Z", utc(2026, 6, 26, 9, 0, 0)),
    ("2026-06-26T09:00Z", utc(2026, 6, 26, 9, 0)),
    ("2026-06-26T09:00:00", utc(2026, 6, 26, 9, 0)),
    ("2026-06-26T09:00:59.999999Z", utc(2026, 6, 26, 9, 0, 59)),
    ("2026-06-26T09:00:01.5", utc(2026, 6, 26, 9, 0, 1)),
    ("2026-06-26T11:30:00+02:00", utc(2026, 6, 26, 9, 30)),
    ("2026-06-26T01:00:00-05:30", utc(2026, 6, 26, 6, 30)),
    ("2026-06-26T09:00:00+00:00", utc(2026, 6, 26, 9, 0)),
    ("2026-01-01T00:30:00+01:00", utc(2025, 12, 31, 23, 30)),
])
def test_datetime_valid_is_utc_whole_seconds(value, expected):
    result = one(f.DateTime(), value)
    assert result == expected
    assert result.tzinfo is timezone.utc and result.microsecond == 0


@pytest.mark.parametrize("value", ["", "2026-06-26", "2026-06-26 09:00:00Z", "2026-06-26T09",
                                   "2026-02-30T09:00:00Z", "2026-06-26T25:00:00Z",
                                   "2026-06-26T09:60:00Z", "26-06-2026T09:00", "2026-6-26T09:00",
                                   "2026-06-26T09:00:00+25:00", "2026-06-26T09:00:00+02:99",
                                   "2026-06-26T09:00:00 ", "0001-01-01T00:00:00+01:00",
                                   "now", 1750928400, True, ["2026-06-26T09:00:00Z"]])
def test_datetime_invalid(value):
    assert error(f.DateTime(), value) == DATETIME_MSG


@pytest.mark.parametrize("value, expected", [("2026-06-01", date(2026, 6, 1)),
                                             ("2024-02-29", date(2024, 2, 29))])
def test_date_valid(value, expected):
    assert one(f.Date(), value) == expected


@pytest.mark.parametrize("value", ["", "2026-6-1", "2026-06-31", "2025-02-29", "0000-01-01",
                                   "2026-06-01T00:00:00Z", "20260601", "01-06-2026", 20260601,
                                   [], "2026-06-01 "])
def test_date_invalid(value):
    assert error(f.Date(), value) == DATE_MSG


# --- Choice ---------------------------------------------------------------------------------

STRATEGY = f.Choice(["add", "merge"], default="add")


def test_choice_valid_and_default():
    assert one(STRATEGY, "merge") == "merge"
    assert f.Schema({"s": STRATEGY}).validate({}) == {"s": "add"}


@pytest.mark.parametrize("value, shown", [("x", "x"), ("ADD", "ADD"), ("", ""), (" add", " add"),
                                          (5, "5"), (True, "True")])
def test_choice_invalid(value, shown):
    assert error(STRATEGY, value) == f'"{shown}" is not a valid choice.'


# --- Fields used alone (query filters) ---------------------------------------------------------

def test_field_clean_raises_invalid_with_message():
    assert f.UUID().clean(U1.upper()) == U1
    with pytest.raises(f.Invalid) as info:
        f.UUID().clean("x")
    assert info.value.message == "Must be a valid UUID."
