"""What one guardrail rule decided about one text: stored on the message and counted."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    ALLOW = "allow"
    REFUSE = "refuse"
    HANDOFF = "handoff"
    TRUNCATE = "truncate"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's decision. `allowed` is False for anything but ALLOW and TRUNCATE."""

    action: Action = Action.ALLOW
    rule: str | None = None
    score: float = 0.0
    stage: str = "input"
    detail: str | None = None

    @property
    def allowed(self) -> bool:
        return self.action in (Action.ALLOW, Action.TRUNCATE)

    @property
    def reason(self) -> str | None:
        """A short human reason (for logs and operators)."""
        if self.rule is None:
            return None
        return f"{self.rule}: {self.detail}" if self.detail else self.rule

    def as_meta(self) -> dict[str, Any]:
        """The verdict as stored on a message (JSON-safe)."""
        data = asdict(self)
        data["action"] = self.action.value
        data["score"] = round(float(self.score), 3)
        return data


ALLOW = Verdict()
