"""Rules about organisations, users and keys that need no storage: plans, scopes, prefixes."""
from __future__ import annotations

import re
import unicodedata

PRO_PLAN = "pro"  # the plan the public API is part of (new users are on it by default)
PLANS = (PRO_PLAN, "free")
SCOPES = ("read", "write")
READ_METHODS = ("GET", "HEAD", "OPTIONS")

PLAN_DENIED = "Public API access is a Pro feature."
SCOPE_DENIED = "This API key has read scope; POST, PATCH and DELETE need a write-scoped key."
NO_ORGANISATION_FOR_CLIENTS = "You must belong to an organisation to manage clients."
NO_ORGANISATION_FOR_INVOICES = "You must belong to an organisation to create invoices."
INVOICE_PREFIX_LENGTH = 10
INVALID_PREFIX = f"Invoice prefix must be 1-{INVOICE_PREFIX_LENGTH} letters or digits."


def may_use_api(plan: str) -> bool:
    """Whether a user on ``plan`` may use the public API (and so receive webhooks)."""
    return plan == PRO_PLAN


def default_invoice_prefix(name: str) -> str:
    """Upper-cased initials of the first two words plus "I": "Dunder Mifflin" → "DMI".

    Accents are dropped ("Ünïcode Ørg" → "UI": a word whose initial has no ASCII form,
    like "Ørg", gives none), so the prefix is always ASCII letters and digits.
    """
    initials = []
    for word in name.split()[:2]:
        initial = unicodedata.normalize("NFKD", word[0])[0].upper()
        if re.fullmatch(r"[A-Z0-9]", initial):
            initials.append(initial)
    return "".join(initials) + "I"


def valid_invoice_prefix(prefix: str) -> bool:
    return bool(re.fullmatch(rf"[A-Z0-9]{{1,{INVOICE_PREFIX_LENGTH}}}", prefix))
