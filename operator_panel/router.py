"""The panel's one router: what the composition root includes in the app."""

from __future__ import annotations

from fastapi import APIRouter

from config import Settings
from operator_panel.analytics import build_analytics_router
from operator_panel.api import build_api_router
from operator_panel.assignment_api import build_assignment_router
from operator_panel.auth import build_auth_router
from operator_panel.canned_api import build_canned_router
from operator_panel.contacts_api import build_contacts_router
from operator_panel.copilot_api import build_copilot_router
from operator_panel.data_rights import build_data_rights_router
from operator_panel.media_api import build_media_router
from operator_panel.notes_api import build_notes_router
from operator_panel.pages import build_pages_router
from operator_panel.translation_api import build_translation_router
from operator_panel.ws import build_ws_router


def build_router(settings: Settings) -> APIRouter:
    """Everything the panel serves: auth, REST API, WebSocket and the page."""
    router = APIRouter()
    router.include_router(build_auth_router(settings))
    router.include_router(build_api_router())
    router.include_router(build_assignment_router())
    router.include_router(build_data_rights_router())
    router.include_router(build_notes_router())
    router.include_router(build_canned_router())
    router.include_router(build_copilot_router())
    router.include_router(build_translation_router())
    router.include_router(build_media_router())
    router.include_router(build_contacts_router())
    router.include_router(build_ws_router(settings))
    # Before the pages: its own assets under /panel/ win over the catch-all asset route.
    router.include_router(build_analytics_router())
    router.include_router(build_pages_router())
    return router
