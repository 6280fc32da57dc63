"""Default invoice prefixes (SPEC section 4: initials of the first two words plus "I")."""
import pytest

from chalicelib.domain.accounts import default_invoice_prefix, valid_invoice_prefix


@pytest.mark.parametrize("name,prefix", [
    ("Dunder Mifflin", "DMI"),
    ("dunder mifflin paper company", "DMI"),
    ("Acme", "AI"),
    ("Ünïcode Ørg", "UI"),
    ("Élan Vital", "EVI"),
    ("3M Company", "3CI"),
])
def test_default_prefix(name, prefix):
    assert default_invoice_prefix(name) == prefix
    assert valid_invoice_prefix(prefix)
