"""Webhook events as the contract names them: the events a subscription may choose, URL limits."""
from __future__ import annotations

# The reference's five events, in its order.
EVENTS = ("project.created", "session.created", "session.closed", "invoice.created",
          "invoice.paid")
TARGET_URL_LENGTH = 2048
