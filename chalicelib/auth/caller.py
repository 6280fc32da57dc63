"""Who is calling: the authorizer's context, read back into typed values for the handlers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Caller:
    user_id: int
    email: str
    organisation_id: int | None
    organisation_name: str | None
    team_ids: frozenset[int]
    key_id: str
    key_name: str
    scope: str

    @classmethod
    def from_context(cls, context: Mapping[str, object]) -> "Caller":
        """API Gateway passes every context value as a string; "" stands for null."""
        organisation = str(context.get("organisation_id") or "")
        teams = str(context.get("team_ids") or "")
        return cls(
            user_id=int(str(context["user_id"])),
            email=str(context.get("email", "")),
            organisation_id=int(organisation) if organisation else None,
            organisation_name=str(context.get("organisation_name") or "") or None,
            team_ids=frozenset(int(t) for t in teams.split(",") if t),
            key_id=str(context["key_id"]),
            key_name=str(context.get("key_name", "")),
            scope=str(context.get("scope", "read")),
        )
