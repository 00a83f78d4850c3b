"""Operator sessions: login, logout, the session cookie, CSRF and role checks.

A session is a random id in an httpOnly, SameSite=Lax cookie; Redis maps a hash of it to
the operator and the session's CSRF token, so logout (or an expiry) ends it everywhere and
a copy of Redis does not hold usable cookies. Every state-changing request carries the CSRF
token in `X-CSRF-Token`; it is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from beanie import PydanticObjectId
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from bot.core.documents import Operator
from bot.core.operator_actions import announce_session_ended
from bot.core.operators import authenticate, normalize_email
from bot.core.runtime import Core
from config import Settings
from operator_panel.login_throttle import LoginThrottle

COOKIE_NAME = "sb_panel_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
SESSION_KEY = "sb:panel:session:"
LOGIN_RATE_PER_IP = "20/minute"


class LoginRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class OperatorView(BaseModel):
    id: str
    email: str
    role: str
    display_name: str | None = None


class LoginResponse(BaseModel):
    csrf_token: str
    operator: OperatorView


class MeResponse(OperatorView):
    csrf_token: str


@dataclass(frozen=True, slots=True)
class PanelSession:
    key: str  # the Redis key, derived from the cookie
    operator: Operator
    csrf_token: str


def operator_view(operator: Operator) -> OperatorView:
    return OperatorView(
        id=str(operator.id),
        email=operator.email,
        role=operator.role,
        display_name=operator.display_name,
    )


def core_of(conn: HTTPConnection) -> Core:
    core: Core = conn.app.state.core
    return core


def _session_key(session_id: str) -> str:
    return SESSION_KEY + hashlib.sha256(session_id.encode()).hexdigest()


def cookie_is_secure(settings: Settings) -> bool:
    return settings.public_base_url.startswith("https://")


def public_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_base_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def start_session(core: Core, operator: Operator) -> tuple[str, str]:
    """A new session for an operator: (cookie value, CSRF token)."""
    session_id = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    record = json.dumps({"operator_id": str(operator.id), "csrf": csrf_token})
    await core.redis.set(_session_key(session_id), record, ex=SESSION_TTL_S)
    return session_id, csrf_token


async def load_session(core: Core, session_id: str | None) -> PanelSession | None:
    """The live session behind a cookie value, with its (still active) operator."""
    if not session_id or len(session_id) > 128:
        return None
    key = _session_key(session_id)
    raw = await core.redis.get(key)
    if raw is None:
        return None
    try:
        record: dict[str, Any] = json.loads(raw)
        operator = await Operator.get(PydanticObjectId(record["operator_id"]))
        csrf_token = str(record["csrf"])
    except (ValueError, KeyError, TypeError):
        return None
    if operator is None or not operator.active:
        return None
    return PanelSession(key=key, operator=operator, csrf_token=csrf_token)


async def current_session(request: Request) -> PanelSession:
    """FastAPI dependency: the caller's session, else 401."""
    session = await load_session(core_of(request), request.cookies.get(COOKIE_NAME))
    if session is None:
        raise HTTPException(401, "not signed in")
    return session


async def current_operator(session: Annotated[PanelSession, Depends(current_session)]) -> Operator:
    """FastAPI dependency: the signed-in operator, else 401."""
    return session.operator


def csrf_matches(session: PanelSession, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(
        sent.encode("utf-8", "replace"), session.csrf_token.encode()
    )


async def require_csrf(
    request: Request, session: Annotated[PanelSession, Depends(current_session)]
) -> PanelSession:
    """FastAPI dependency for state-changing requests: a session and its CSRF token."""
    if not csrf_matches(session, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token")
    return session


async def require_admin(session: Annotated[PanelSession, Depends(require_csrf)]) -> Operator:
    """FastAPI dependency for admin-only writes (CSRF checked too)."""
    if session.operator.role != "admin":
        raise HTTPException(403, "only an admin may do this")
    return session.operator


def build_auth_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/api/auth", tags=["panel-auth"])
    secure = cookie_is_secure(settings)

    @router.post("/login", response_model=LoginResponse)
    async def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
        core = core_of(request)
        client = request.client.host if request.client else "unknown"
        email = normalize_email(body.email)
        # Every attempt counts per address; failures slow down that address's guesses at
        # this e-mail (growing delays), never the owner signing in from elsewhere. Both are
        # counted before the password is checked, so parallel guesses cannot slip past.
        if not await core.limiter.allow("panel-login-ip", client, LOGIN_RATE_PER_IP, client=client):
            raise HTTPException(
                429, "too many login attempts; try again in a minute", {"Retry-After": "60"}
            )
        throttle = LoginThrottle(core.redis)
        verdict = await throttle.begin(email, client)
        if not verdict.allowed:
            raise HTTPException(
                429,
                f"too many failed logins; try again in {verdict.retry_after_s} s",
                {"Retry-After": str(verdict.retry_after_s)},
            )
        operator = await authenticate(email=email, password=body.password)
        if operator is None:
            raise HTTPException(401, "wrong e-mail or password")
        await throttle.succeeded(email, client, verdict)
        session_id, csrf_token = await start_session(core, operator)
        response.set_cookie(
            COOKIE_NAME,
            session_id,
            max_age=SESSION_TTL_S,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        response.headers["Cache-Control"] = "no-store"
        return LoginResponse(csrf_token=csrf_token, operator=operator_view(operator))

    @router.post("/logout", status_code=204)
    async def logout(
        request: Request, session: Annotated[PanelSession, Depends(require_csrf)]
    ) -> Response:
        core = core_of(request)
        await core.redis.delete(session.key)
        # Its open panel sockets, in any process, close now rather than at their next check.
        await announce_session_ended(
            core=core, operator_id=str(session.operator.id), session_key=session.key
        )
        response = Response(status_code=204)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)
        return response

    @router.get("/me", response_model=MeResponse)
    async def me(
        session: Annotated[PanelSession, Depends(current_session)], response: Response
    ) -> MeResponse:
        response.headers["Cache-Control"] = "no-store"
        view = operator_view(session.operator)
        return MeResponse(**view.model_dump(), csrf_token=session.csrf_token)

    return router
