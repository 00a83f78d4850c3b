"""Who the agent is answering: handed to every tool through the run's context.

A tool learns the customer's identity from here, never from the model's arguments, so a
prompt cannot make a tool act for somebody else. `notes` collects what the run did (tool
calls, sources, a hand-off request) for the worker to store once the answer is final.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ToolCallNote:
    """One tool call of a run, as operators see it."""

    name: str
    args: dict[str, Any]
    result: str | None = None
    error: str | None = None
    duration_ms: float = 0.0


@dataclass(slots=True)
class RunNotes:
    tool_calls: list[ToolCallNote] = field(default_factory=list)
    # (title, source) of knowledge-base documents the tools returned to the model.
    sources: list[tuple[str, str]] = field(default_factory=list)
    handoff_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AgentContext:
    conversation_id: str
    contact_id: str
    channel: str
    external_user_id: str
    language: str | None = None
    display_name: str | None = None
    notes: RunNotes = field(default_factory=RunNotes)
