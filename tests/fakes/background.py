"""An ASGI app served by uvicorn in a daemon thread, for the fake servers of the tests.

The server has its own event loop, so sync and async tests can use it alike, and listens on
``127.0.0.1`` and a free port, known (``port``, ``base_url``) from ``start()`` on::

    with BackgroundServer(app, name="test service") as server:
        httpx.get(f"{server.base_url}/ping")

The fakes subclass it: they get ``start()`` / ``stop()``, ``with`` and ``async with``
(which start and stop in a worker thread, not blocking the test's loop). ``stopping`` and
``sleep()`` let handlers that wait (long polls, scripted delays) end as soon as the server
is asked to stop. Uvicorn logs nothing of its own (no access log, no logging config) and
installs no signal handlers (it never does outside the main thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Literal, Self

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 10.0
"""Seconds ``start()`` waits for uvicorn to be ready, and ``stop()`` for its thread to end."""


class BackgroundServer:
    """Runs ``app`` under uvicorn on ``127.0.0.1`` and a free port, in a daemon thread.

    ``name`` names the thread and the errors ("<name> is not started"). ``lifespan="on"``
    runs the app's start-up and shut-down; ``graceful_shutdown`` bounds, in seconds, how
    long ``stop()`` lets open requests finish.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        name: str,
        lifespan: Literal["on", "off"] = "off",
        graceful_shutdown: int = 1,
    ) -> None:
        self.app = app
        self._name = name
        self._lifespan: Literal["on", "off"] = lifespan
        self._graceful_shutdown = graceful_shutdown
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._startup_error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stopping(self) -> bool:
        """Whether ``stop()`` has been called (for handlers that poll)."""
        return self._stopping is not None and self._stopping.is_set()

    async def sleep(self, seconds: float) -> None:
        """Sleep in the server's loop, but wake up at once when the server is stopping."""
        if seconds <= 0:
            return
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def start(self) -> Self:
        """Start serving; return once uvicorn is ready, or raise if it failed to start."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan=self._lifespan,
            ws="none",
            timeout_graceful_shutdown=self._graceful_shutdown,
        )
        server = self._server = uvicorn.Server(config)
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._run, args=(server, sock), name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self._name} failed to start") from self._startup_error
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, wake waiting handlers, and wait (bounded) for the thread."""
        server, thread, loop, stopping = self._server, self._thread, self._loop, self._stopping
        if server is not None:
            server.should_exit = True
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(timeout=START_TIMEOUT)
        self._server = self._thread = self._loop = self._stopping = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- server thread --------------------------------------------------------------------

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(self._serve(server, sock))
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
        finally:
            sock.close()

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await server.serve(sockets=[sock])


def free_port() -> int:
    """A loopback port that nothing listens on (for "server is down" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
