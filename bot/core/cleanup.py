"""One hook path that releases transient state: on disconnect, close, mode change and shutdown.

Anything that lives only while a socket is open or a conversation is in a given mode (socket
registrations, typing timers, reply streams in flight, locks) is registered under a scope:
`conn:<id>` for a connection, `conv:<id>` for a conversation. Releasing a scope runs every
hook registered under it exactly once, so nothing is left behind whatever way the scope ends.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from loguru import logger

ReleaseHook = Callable[[], Awaitable[None] | None]


def connection_scope(connection_id: str) -> str:
    return f"conn:{connection_id}"


def conversation_scope(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


class TransientState:
    """Registry of release hooks keyed by scope, then by a name unique within the scope."""

    def __init__(self) -> None:
        self._scopes: dict[str, dict[str, ReleaseHook]] = {}

    def register(self, scope: str, name: str, hook: ReleaseHook) -> None:
        """Add a hook; a hook already registered under the same name is replaced, not run."""
        self._scopes.setdefault(scope, {})[name] = hook

    def discard(self, scope: str, name: str) -> None:
        """Forget a hook whose state was already released by its owner."""
        hooks = self._scopes.get(scope)
        if hooks is None:
            return
        hooks.pop(name, None)
        if not hooks:
            del self._scopes[scope]

    def has(self, scope: str, name: str) -> bool:
        return name in self._scopes.get(scope, {})

    async def release(self, scope: str) -> int:
        """Run and forget every hook of a scope; a failing hook is logged, the rest still run."""
        hooks = self._scopes.pop(scope, None)
        if not hooks:
            return 0
        for name, hook in hooks.items():
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("release hook {} of {} failed", name, scope)
        return len(hooks)

    async def release_all(self) -> None:
        """Shutdown: release every scope."""
        for scope in list(self._scopes):
            await self.release(scope)

    def size(self) -> int:
        """How many hooks are held; a leak shows up as growth here."""
        return sum(len(hooks) for hooks in self._scopes.values())

    def scopes(self) -> int:
        return len(self._scopes)
