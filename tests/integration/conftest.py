"""Real services for the integration tests, one of each per test session.

Each `*_url` fixture uses the server named by its environment variable when
one is set (a real Kafka, MongoDB, MySQL, PostgreSQL or Redis, e.g. from
compose.yaml) and otherwise starts or prepares one (tests.support.services):

    ORDERFLOW_TEST_KAFKA_URL     kafka://host:port        else a Tansu broker
    ORDERFLOW_TEST_MONGO_URL     mongodb://host:port/     else a mongoeco wire server
    ORDERFLOW_TEST_MYSQL_URL     mysql+pymysql://...      else the machine's MariaDB
    ORDERFLOW_TEST_POSTGRES_URL  postgresql+psycopg://... else the machine's PostgreSQL
    ORDERFLOW_TEST_REDIS_URL     redis://host:port/db     else a claimed database of
                                                          the machine's Redis

MySQL and PostgreSQL URLs name a server: the fixture creates a database
orderflow_test_<random> on it and drops it at the end of the session. Kafka,
MongoDB and Redis URLs are used as they are.

A service that cannot be started fails every test that needs it, loudly:
an integration test never skips for want of a server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import services
from tests.support.processes import Service, ServiceError

HERE = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas with importlib.resources
    # calls deprecated in Python 3.11: hundreds of warnings, none ours.
    for api in ("read_text", "open_text"):
        config.addinivalue_line("filterwarnings", f"ignore:{api} is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _service(
    variable: str,
    start: Callable[[], Service],
    prepare: Callable[[str], Service] | None = None,
) -> Iterator[str]:
    given = os.environ.get(variable)
    if given and prepare is None:
        yield given
        return
    try:
        service = prepare(given) if given and prepare else start()
    except ServiceError as exc:
        failure = f"cannot start the service for {variable}:\n{exc}"
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture(scope="session")
def kafka_url() -> Iterator[str]:
    yield from _service("ORDERFLOW_TEST_KAFKA_URL", services.start_kafka)


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    yield from _service("ORDERFLOW_TEST_MONGO_URL", services.start_mongo)


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    yield from _service(
        "ORDERFLOW_TEST_MYSQL_URL", services.ensure_mariadb, services.scratch_database
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _service(
        "ORDERFLOW_TEST_POSTGRES_URL", services.ensure_postgres, services.scratch_database
    )


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    yield from _service("ORDERFLOW_TEST_REDIS_URL", services.ensure_redis)
