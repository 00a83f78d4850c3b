"""CORS for the widget's HTTP endpoints only: the widget runs on other websites' pages.

The widget script is embedded on a business's own site, so its session request is
cross-origin and the browser asks first (a preflight). The operator panel's `/api` works
with a cookie and a CSRF token and must stay same-origin: it never gets these headers.
No credentials are allowed cross-origin; visitor tokens travel in the body and socket URL.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from config import Settings

WIDGET_API_PREFIX = "/api/widget/"


class WidgetCors:
    """Starlette's CORS handling, for paths under /api/widget/ and nothing else."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        allowed = settings.widget_origins
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"] if allowed is None else sorted(allowed),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(WIDGET_API_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
