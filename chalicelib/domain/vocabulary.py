"""The contract's closed vocabularies that several layers name (store keys, validation, the
document): here once, in a module that costs nothing to import."""
from __future__ import annotations

INVOICE_STATUSES = ("draft", "sent", "paid")
OVERLAP_STRATEGIES = ("add", "merge")  # how overlapping sessions are billed (SPEC section 4)
