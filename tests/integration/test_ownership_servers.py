"""The ownership contract (tests/contracts/ownership_contract.py) on the real
servers: MariaDB, PostgreSQL and MongoDB, each migrated by `migrate()`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

import orderflow
from orderflow import Orderflow
from tests.contracts.ownership_contract import JWT_KEY, OwnershipContract
from tests.unit.http.test_http_ownership import with_catalog

ID_SECRET = "an id secret for the integration tests, 32+ bytes"


def _flow(database_url: str) -> Iterator[Orderflow]:
    app = orderflow.bootstrap(
        database_url=database_url,
        notify_url="memory://",
        auth_jwt_key=JWT_KEY,
        id_secret=ID_SECRET,
    )
    app.migrate()
    yield with_catalog(app)
    app.close()


class TestMariaDbOwnership(OwnershipContract):
    @pytest.fixture
    def flow(self, mysql_url: str) -> Iterator[Orderflow]:
        yield from _flow(mysql_url)


class TestPostgresOwnership(OwnershipContract):
    @pytest.fixture
    def flow(self, postgres_url: str) -> Iterator[Orderflow]:
        yield from _flow(postgres_url)


@pytest.fixture(scope="module")
def mongo_database_url(mongo_url: str) -> str:
    parts = urlsplit(mongo_url)
    return urlunsplit(parts._replace(path=f"/orderflow_owners_{uuid.uuid4().hex[:8]}"))


class TestMongoOwnership(OwnershipContract):
    @pytest.fixture
    def flow(self, mongo_database_url: str) -> Iterator[Orderflow]:
        yield from _flow(mongo_database_url)
