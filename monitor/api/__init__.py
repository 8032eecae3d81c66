"""The HTTP layer: FastAPI app factory, JSON API routers, health and metrics endpoints. Reads
only: current state from the engine, history through storage queries."""

from monitor.api.app import create_app

__all__ = ["create_app"]
