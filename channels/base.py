"""The channel adapter interface: one module per channel implements `ChannelAdapter`.

An adapter has two sides, as in Rasa's input and output channels. Inbound, it verifies and
normalizes what the provider sends and hands an `InboundMessage` to the core through the
`ChannelContext` it was given; it never talks to the model or the panel. Outbound, `send()`
delivers one stored message and reports its delivery status.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from fastapi import APIRouter

from bot.types import ChannelContext, DeliveryResult, OutboundMessage
from config import Settings


class ChannelAdapter(ABC):
    """Base of every channel: routes for inbound traffic and `send()` for outbound."""

    name: ClassVar[str]

    def __init__(self, settings: Settings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context

    @abstractmethod
    def router(self) -> APIRouter:
        """The HTTP / WebSocket routes this channel receives traffic on."""

    @abstractmethod
    async def send(self, outbound: OutboundMessage) -> DeliveryResult:
        """Deliver one message to the customer; never raises for a provider's refusal."""

    async def startup(self) -> None:  # noqa: B027 - optional hook
        """Open clients, start polling; called once by the app's lifespan."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Close clients; called once on shutdown."""
