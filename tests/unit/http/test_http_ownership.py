"""The ownership contract (tests/contracts/ownership_contract.py) on memory
and SQLite; MariaDB, PostgreSQL and MongoDB run it in tests/integration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.domain.model import Product
from orderflow.entrypoints.http.openapi import document
from tests.contracts.ownership_contract import JWT_KEY, OwnershipContract
from tests.unit.http.support import CATALOG


def with_catalog(flow: Orderflow) -> Orderflow:
    flow.catalog.upsert_many(
        [Product(p.id, p.name, p.description, p.price, 10_000) for p in CATALOG]
    )
    return flow


class TestMemoryOwnership(OwnershipContract):
    @pytest.fixture
    def flow(self) -> Iterator[Orderflow]:
        app = orderflow.bootstrap(
            database_url="memory://", notify_url="memory://", auth_jwt_key=JWT_KEY
        )
        yield with_catalog(app)
        app.close()


class TestSqliteOwnership(OwnershipContract):
    @pytest.fixture
    def flow(self, tmp_path: Path) -> Iterator[Orderflow]:
        app = orderflow.bootstrap(
            database_url=f"sqlite:///{tmp_path / 'orderflow.sqlite3'}",
            notify_url="memory://",
            auth_jwt_key=JWT_KEY,
        )
        app.migrate()
        yield with_catalog(app)
        app.close()


def test_the_openapi_document_says_which_routes_need_a_bearer() -> None:
    doc = document()
    paths = doc["paths"]

    assert doc["components"]["securitySchemes"]["bearer"] == {
        **doc["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    for path in ("/api/orders/{order_id}", "/api/orders/{order_id}/events"):
        assert paths[path]["get"]["security"] == [{"bearer": []}]
        assert "401" in paths[path]["get"]["responses"]
    assert paths["/api/orders/{order_id}/cancel"]["post"]["security"] == [{"bearer": []}]
    assert paths["/api/orders"]["get"]["security"] == [{"bearer": []}]
    assert {} in paths["/api/orders"]["post"]["security"]  # anonymous placing is welcome
    assert paths["/order/{order_id}"]["get"]["security"] == []  # the seed's open read
