"""Fixtures for the HTTP API: a fully in-memory orderflow with a small catalog
(a product named "Laptop" among it), its Flask app and a test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.domain.identity import Role
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import Stored, api_key, make_flow, snapshot


@pytest.fixture
def flow() -> Iterator[Orderflow]:
    instance = make_flow()
    yield instance
    instance.close()


@pytest.fixture
def app(flow: Orderflow) -> Flask:
    app = create_app(flow, config={"READINESS_TIMEOUT_S": 0.2})
    app.testing = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def stored(flow: Orderflow) -> Callable[[], Stored]:
    """Call it before and after a request: equal snapshots mean nothing was stored."""
    return lambda: snapshot(flow)


@pytest.fixture
def ops(flow: Orderflow) -> dict[str, str]:
    """The headers of an ops API key (/metrics, /ready's details)."""
    return api_key(flow, Role.OPS)
