"""The composition root: the FastAPI app with its channels, and the worker process.

This is the one module allowed to wire concrete channels and the panel to the core (see
the import contracts in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.answers.engine import Engine, running_engine
from bot.answers.knowledge import KnowledgeSearch
from bot.answers.replies import ReplyGenerator
from bot.answers.worker import ReplyWorker
from bot.core.channel_context import CoreChannelContext
from bot.core.data_rights import run_retention
from bot.core.ingest import IngestConsumer
from bot.core.ratelimit import is_loopback
from bot.core.runtime import Core
from bot.server.body_limits import DEFAULT_LIMITS, BodyLimits
from bot.server.bootstrap import derived_caches, running_core
from bot.server.demo_actions import demo_router
from bot.server.widget_cors import WidgetCors
from channels.base import ChannelAdapter
from channels.widget import WidgetChannel
from config import Settings, get_settings, with_installation_secrets
from operator_panel.media_api import UPLOAD_PREFIX
from operator_panel.router import build_router as build_panel_router


def build_channels(settings: Settings, context: CoreChannelContext) -> list[ChannelAdapter]:
    """Every channel this deployment runs; a new channel is one more line here."""
    channels: list[ChannelAdapter] = [WidgetChannel(settings, context)]
    # Provider SDKs are imported only when their channel is on (aiogram alone takes seconds).
    if settings.twilio_account_sid and settings.twilio_auth_token:
        from channels.whatsapp import WhatsAppChannel

        channels.append(WhatsAppChannel(settings, context))
    if settings.telegram_bot_token is not None:
        from channels.telegram import TelegramChannel

        channels.append(TelegramChannel(settings, context))
    return channels


@contextlib.asynccontextmanager
async def started_channels(
    core: Core, channels: list[ChannelAdapter], *, inbound: bool
) -> AsyncIterator[None]:
    """Register the channels as the core's outputs and run their start-up and shutdown."""
    async with contextlib.AsyncExitStack() as stack:
        for channel in channels:
            core.outputs[channel.name] = channel
            await channel.startup(inbound=inbound)
            stack.push_async_callback(channel.shutdown)
        yield


@contextlib.asynccontextmanager
async def running_ingest(core: Core, channels: list[ChannelAdapter]) -> AsyncIterator[None]:
    """The ingest consumer as a task of this process: stores what the webhooks appended."""
    if not core.settings.ingest_stream:
        yield
        return
    consumer = IngestConsumer(core.redis, {ch.name: ch.process_ingested for ch in channels})
    task = asyncio.create_task(consumer.run(), name="ingest-consumer")
    try:
        yield
    finally:
        await consumer.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running_worker(core: Core, engine: Engine) -> AsyncIterator[ReplyWorker]:
    """The reply worker as a task of this process (with the retention purge), stopped on exit."""
    worker = ReplyWorker(core, engine)
    task = asyncio.create_task(worker.run(), name="reply-worker")
    retention = asyncio.create_task(run_retention(core), name="retention")
    try:
        yield worker
    finally:
        await worker.stop()
        task.cancel()
        retention.cancel()
        for done in (task, retention):
            with contextlib.suppress(asyncio.CancelledError):
                await done


def create_app(
    settings: Settings | None = None,
    *,
    run_worker: bool | None = None,
    replier: ReplyGenerator | None = None,
    knowledge: KnowledgeSearch | None = None,
    configure_logging: bool = True,
    on_ready: Callable[[Settings], None] | None = None,
) -> FastAPI:
    """The HTTP app. On the embedded default it also runs the reply worker in process."""
    settings = with_installation_secrets(settings or get_settings())
    with_worker = settings.embedded if run_worker is None else run_worker
    context = CoreChannelContext()
    channels = build_channels(settings, context)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            running_core(settings, configure_logging=configure_logging) as core,
            running_engine(core, replier=replier, knowledge=knowledge) as engine,
            contextlib.AsyncExitStack() as stack,
        ):
            context.bind(core)
            core.derived_caches = derived_caches()
            app.state.core = core
            app.state.engine = engine
            await stack.enter_async_context(started_channels(core, channels, inbound=True))
            if settings.ingest_consumer or with_worker:
                await stack.enter_async_context(running_ingest(core, channels))
            if with_worker:
                await stack.enter_async_context(running_worker(core, engine))
            logger.info("Switchboard is up ({} profile)", settings.app_env)
            if on_ready is not None:
                on_ready(core.settings)
            yield

    app = _new_app(settings, lifespan)
    for channel in channels:
        app.include_router(channel.router())
    app.include_router(build_panel_router(settings))
    if settings.app_env != "prod":
        # The endpoint behind the example "order status" HTTP action (config/actions/).
        app.include_router(demo_router)
    _add_service_routes(app, settings)
    _add_error_handlers(app)
    # Sizes and nesting are checked before any route reads a byte of the body.
    # An operator's upload may be as large as MEDIA_MAX_BYTES (plus the form around it).
    upload_limit = (UPLOAD_PREFIX, settings.media_max_bytes + 64 * 1024)
    app.add_middleware(BodyLimits, limits=(*DEFAULT_LIMITS, upload_limit))
    # Outermost, so that the widget's page can also read BodyLimits' refusals (413, 400).
    app.add_middleware(WidgetCors, settings=settings)
    return app


def _new_app(settings: Settings, lifespan: Any) -> FastAPI:
    """The FastAPI app; its docs, where on, load Swagger UI from the app (works offline)."""
    if not settings.docs_enabled:
        return FastAPI(
            title="Switchboard",
            version="0.1.0",
            lifespan=lifespan,
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
    from fastapi_offline import FastAPIOffline

    return FastAPIOffline(
        title="Switchboard", version="0.1.0", lifespan=lifespan, static_url="/docs-static"
    )


def _metrics_allowed(settings: Settings, request: Request) -> bool:
    token = settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        return hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode())
    if settings.app_env != "prod":
        return True
    # No token in prod: only a scraper on this machine (a sidecar, a local agent), and not a
    # visitor whose request a reverse proxy on this machine passed on.
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    return not proxied and request.client is not None and is_loopback(request.client.host)


def _add_service_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/health", tags=["service"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["service"])
    async def ready(request: Request) -> JSONResponse:
        core: Core = request.app.state.core
        failing: list[str] = []
        try:
            await asyncio.wait_for(core.mongo.admin.command("ping"), timeout=2)
        except Exception:
            failing.append("mongodb")
        try:
            await asyncio.wait_for(core.redis.ping(), timeout=2)
        except Exception:
            failing.append("redis")
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["service"])
    async def metrics(request: Request) -> Response:
        if not _metrics_allowed(settings, request):
            return JSONResponse(
                {"detail": "metrics need Authorization: Bearer <METRICS_TOKEN>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)


async def run_worker_process(settings: Settings) -> None:
    """`python -m bot worker`: the reply worker and the ingest consumer, channels sending only."""
    settings = with_installation_secrets(settings)
    context = CoreChannelContext()
    channels = build_channels(settings, context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_core(settings) as core, running_engine(core) as engine:
        context.bind(core)
        async with (
            started_channels(core, channels, inbound=False),
            running_ingest(core, channels),
            running_worker(core, engine),
            worker_service_port(settings, core),
        ):
            # As `serve` does once it is up: start-up objects live as long as the process,
            # and frozen, a full collection no longer walks them in the middle of an answer.
            gc.collect()
            gc.freeze()
            await stop.wait()


class _ServerWithoutSignals(uvicorn.Server):
    """The process's SIGINT/SIGTERM handlers stop the worker; uvicorn must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def worker_service_port(settings: Settings, core: Core) -> AsyncIterator[None]:
    """The worker's /health, /health/ready and /metrics on WORKER_PORT (nothing when unset)."""
    if settings.worker_port is None:
        yield
        return
    app = FastAPI(title="Switchboard worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.core = core
    _add_service_routes(app, settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.worker_port, log_config=None, lifespan="off"
    )
    server = _ServerWithoutSignals(config)
    task = asyncio.create_task(server.serve(), name="worker-service-port")
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
