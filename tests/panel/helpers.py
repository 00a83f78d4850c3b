"""Customers for the panel tests: widget visitors who write and wait for the hand-off."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support import LiveApp, new_session, widget_socket


@dataclass
class Customer:
    token: str
    conversation_id: str


async def customer_writes(app: LiveApp, name: str, text: str) -> Customer:
    """A widget visitor says something; returns once the AI (no model) handed it over."""
    session = await new_session(app, name=name, language="en")
    async with widget_socket(app, session["token"]) as ws:
        await ws.next()  # history
        await ws.say(text)
        await ws.until(lambda f: f["type"] == "status" and f["mode"] == "waiting_operator")
    return Customer(token=session["token"], conversation_id=session["conversation_id"])
