"""The operator panel: operator auth, the panel's REST and WebSocket API, its static pages.

The composition root includes `operator_panel.router.build_router(settings)` in the app.
"""
