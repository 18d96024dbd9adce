"""The HTTP API (Flask): `create_app(orderflow)` builds it; docs/API.md describes it."""

from orderflow.entrypoints.http.app import create_app

__all__ = ["create_app"]
