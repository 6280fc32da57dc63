"""Rules about organisations, users and keys that need no storage: plans, scopes, prefixes."""
from __future__ import annotations

import re

PLANS = ("pro", "free")
SCOPES = ("read", "write")
READ_METHODS = ("GET", "HEAD", "OPTIONS")

PLAN_DENIED = "Public API access is a Pro feature."
SCOPE_DENIED = "This API key has read scope; POST, PATCH and DELETE need a write-scoped key."


def default_invoice_prefix(name: str) -> str:
    """Upper-cased initials of the first two words plus "I": "Dunder Mifflin" → "DMI"."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    return "".join(word[0] for word in words[:2]).upper() + "I"


def valid_invoice_prefix(prefix: str) -> bool:
    return bool(re.fullmatch(r"[A-Z0-9]{1,10}", prefix))
