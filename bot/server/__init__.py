"""Process wiring, the composition root: the FastAPI app factory, the core's bootstrap, the
embedded local servers and the demo backend.

The one place that imports concrete channels and the panel; it may import everything.
"""
