"""The panel's page and assets under /panel/, with strict security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

STATIC_DIR = Path(__file__).with_name("static")
ASSETS = {
    "panel.js": "text/javascript",
    "panel.css": "text/css",
    "theme.js": "text/javascript",
    "comfort.js": "text/javascript",
    "comfort.css": "text/css",
    "copilot.js": "text/javascript",
    "copilot.css": "text/css",
    "feedback.js": "text/javascript",
    "feedback.css": "text/css",
    "translation.js": "text/javascript",
    "translation.css": "text/css",
    "media.js": "text/javascript",
    "linked.js": "text/javascript",
    "linked.css": "text/css",
}

# No inline script or style, nothing from elsewhere, never inside a frame.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def build_pages_router() -> APIRouter:
    router = APIRouter(tags=["panel"], include_in_schema=False)

    @router.get("/panel")
    async def panel_redirect() -> RedirectResponse:
        return RedirectResponse("/panel/", status_code=308)

    @router.get("/panel/")
    async def panel_page() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html",
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    @router.get("/panel/{asset}")
    async def panel_asset(asset: str) -> FileResponse:
        media_type = ASSETS.get(asset)
        if media_type is None:
            raise HTTPException(404, "not found")
        return FileResponse(
            STATIC_DIR / asset,
            media_type=media_type,
            headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    return router
