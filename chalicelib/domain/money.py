"""Money arithmetic: decimals, half-up rounding to the cent and the contract's "120.00" strings."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_half_up(value: Decimal) -> Decimal:
    """Round to two decimals, halves away from zero (SPEC section 1)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(value: Decimal | None) -> str | None:
    """``Decimal("120")`` → ``"120.00"``; ``None`` stays ``None``."""
    if value is None:
        return None
    return str(round_half_up(Decimal(value)))


def parse_money(text: str | None) -> Decimal | None:
    """Stored money strings back to decimals."""
    if text is None:
        return None
    return Decimal(text)
