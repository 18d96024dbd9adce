"""The persistence contract against real MariaDB/MySQL and PostgreSQL servers.

Each server gets a scratch database for the run (created, migrated with
upgrade(), dropped afterwards). ORDERFLOW_TEST_MYSQL_URL and
ORDERFLOW_TEST_POSTGRES_URL name other servers; the database in those URLs
is only used to connect. A server that cannot be reached fails these tests:
they never skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from orderflow.adapters.sqlalchemy.api_keys import SqlApiKeyStore
from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.adapters.sqlalchemy.migrate import current_revision, head_revision, upgrade
from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationLedger
from orderflow.adapters.sqlalchemy.tables import metadata
from orderflow.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from orderflow.domain.errors import StorageUnavailable
from orderflow.ports.api_keys import ApiKeyStore
from orderflow.ports.notifier import NotificationLedger
from orderflow.ports.unit_of_work import UnitOfWorkFactory
from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.contracts.cancellation_contract import CancellationContract
from tests.contracts.notification_ledger_contract import NotificationLedgerContract
from tests.contracts.notification_staging_contract import NotificationStagingContract
from tests.contracts.persistence_contract import PersistenceContract, an_order
from tests.contracts.reading_contract import ReadingContract
from tests.contracts.row_locking_contract import RowLockingContract
from tests.contracts.search_reference import check_every_plan

MYSQL_SERVER = os.environ.get(
    "ORDERFLOW_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
POSTGRES_SERVER = os.environ.get(
    "ORDERFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

pytestmark = pytest.mark.integration


def scratch_database(server_url: str) -> Iterator[str]:
    """Create a uniquely named database on the server, yield its URL, drop it."""
    server = make_url(server_url)
    name = f"orderflow_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    postgres = server.get_backend_name() == "postgresql"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa_exc.DBAPIError as error:
        admin.dispose()
        pytest.fail(
            f"cannot create a scratch database on {server.render_as_string()}: {error}",
            pytrace=False,
        )
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            force = " WITH (FORCE)" if postgres else ""
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
        admin.dispose()


def migrated_factory(url: str) -> Iterator[SqlUnitOfWorkFactory]:
    upgrade(url)
    factory = SqlUnitOfWorkFactory.from_url(url)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def mysql_url() -> Iterator[str]:
    yield from scratch_database(MYSQL_SERVER)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    yield from scratch_database(POSTGRES_SERVER)


@pytest.fixture(scope="module")
def mysql_factory(mysql_url: str) -> Iterator[SqlUnitOfWorkFactory]:
    yield from migrated_factory(mysql_url)


@pytest.fixture(scope="module")
def postgres_factory(postgres_url: str) -> Iterator[SqlUnitOfWorkFactory]:
    yield from migrated_factory(postgres_url)


def clear_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(delete(table))


class ServerChecks:
    """What a server with row locks adds to the contract."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def test_upgrade_again_is_a_no_op_and_the_schema_matches_the_tables(
        self, uow_factory: SqlUnitOfWorkFactory, database_url: str
    ) -> None:
        order = an_order()
        with uow_factory() as uow:
            uow.orders.add(order)
            uow.commit()

        upgrade(database_url)

        assert current_revision(database_url) == head_revision()
        with uow_factory() as uow:
            assert uow.orders.get(order.id) is not None
        with uow_factory.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []

    def test_ping_answers(self, uow_factory: SqlUnitOfWorkFactory) -> None:
        uow_factory.ping()

    def test_every_search_plan_answers_as_the_plain_reference(
        self, uow_factory: SqlUnitOfWorkFactory, database_url: str
    ) -> None:
        # uow_factory: the tables emptied (tests/contracts/search_reference.py).
        wrong = check_every_plan(database_url)
        assert not wrong, "\n".join(wrong)


class TestMariaDbPersistence(
    PersistenceContract,
    ReadingContract,
    RowLockingContract,
    CancellationContract,
    ServerChecks,
):
    @pytest.fixture
    def uow_factory(self, mysql_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        clear_tables(mysql_factory.engine)
        return mysql_factory

    @pytest.fixture
    def database_url(self, mysql_url: str) -> str:
        return mysql_url


class TestPostgresPersistence(
    PersistenceContract,
    ReadingContract,
    RowLockingContract,
    CancellationContract,
    ServerChecks,
):
    @pytest.fixture
    def uow_factory(self, postgres_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        clear_tables(postgres_factory.engine)
        return postgres_factory

    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


@pytest.mark.parametrize(
    "url",
    [
        "mysql+pymysql://root@127.0.0.1:1/orderflow",
        "postgresql+psycopg://postgres@127.0.0.1:1/orderflow",
    ],
    ids=["mysql", "postgresql"],
)
def test_an_unreachable_server_is_storage_unavailable(url: str) -> None:
    factory = SqlUnitOfWorkFactory.from_url(url)
    try:
        with pytest.raises(StorageUnavailable), factory() as uow:
            uow.orders.get("x")
        with pytest.raises(StorageUnavailable):
            factory.ping()
    finally:
        factory.close()


class TestMariaDbNotificationLedger(NotificationLedgerContract):
    @pytest.fixture
    def ledger(self, mysql_factory: SqlUnitOfWorkFactory) -> NotificationLedger:
        clear_tables(mysql_factory.engine)
        return SqlNotificationLedger(mysql_factory.engine)


class TestPostgresNotificationLedger(NotificationLedgerContract):
    @pytest.fixture
    def ledger(self, postgres_factory: SqlUnitOfWorkFactory) -> NotificationLedger:
        clear_tables(postgres_factory.engine)
        return SqlNotificationLedger(postgres_factory.engine)


class TestMariaDbNotificationStaging(NotificationStagingContract):
    @pytest.fixture
    def uow_factory(self, mysql_factory: SqlUnitOfWorkFactory) -> UnitOfWorkFactory:
        clear_tables(mysql_factory.engine)
        return mysql_factory

    @pytest.fixture
    def ledger(self, mysql_factory: SqlUnitOfWorkFactory) -> NotificationLedger:
        return SqlNotificationLedger(mysql_factory.engine)


class TestPostgresNotificationStaging(NotificationStagingContract):
    @pytest.fixture
    def uow_factory(self, postgres_factory: SqlUnitOfWorkFactory) -> UnitOfWorkFactory:
        clear_tables(postgres_factory.engine)
        return postgres_factory

    @pytest.fixture
    def ledger(self, postgres_factory: SqlUnitOfWorkFactory) -> NotificationLedger:
        return SqlNotificationLedger(postgres_factory.engine)


class TestMariaDbApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_key_store(self, mysql_factory: SqlUnitOfWorkFactory) -> ApiKeyStore:
        clear_tables(mysql_factory.engine)
        return SqlApiKeyStore(mysql_factory.engine)


class TestPostgresApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def api_key_store(self, postgres_factory: SqlUnitOfWorkFactory) -> ApiKeyStore:
        clear_tables(postgres_factory.engine)
        return SqlApiKeyStore(postgres_factory.engine)
