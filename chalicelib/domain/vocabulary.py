"""The contract's closed vocabularies and limits that several layers name (store keys and
reads, validation, the document): here once, in a module that costs nothing to import."""
from __future__ import annotations

INVOICE_STATUSES = ("draft", "sent", "paid")
OVERLAP_STRATEGIES = ("add", "merge")  # how overlapping sessions are billed (SPEC section 4)
# A list's JSON may hold at most this much (Lambda answers at most 6 MB): a complete list
# past it is refused, a page ends before it.
MAX_LIST_BYTES = 5 * 1024 * 1024
MAX_BODY_BYTES = 1024 * 1024  # a larger request body is refused with 413 (SPEC section 1)
