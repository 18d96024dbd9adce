"""The SQL unit of work: one pooled connection and one transaction per block."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from orderflow.adapters.sqlalchemy.engine import CLEAN, make_engine, read_only
from orderflow.adapters.sqlalchemy.errors import translate_errors
from orderflow.adapters.sqlalchemy.idempotency import SqlIdempotencyStore
from orderflow.adapters.sqlalchemy.notification_ledger import SqlNotificationRecorder
from orderflow.adapters.sqlalchemy.outbox import SqlOutbox
from orderflow.adapters.sqlalchemy.repositories import SqlOrderRepository, SqlProductRepository
from orderflow.domain.errors import StorageUnavailable
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


class SqlUnitOfWork(UnitOfWork):
    """The transaction begins with the first statement (on SQLite with
    BEGIN IMMEDIATE, or a plain BEGIN on a read-only engine: see engine.py)
    and ends at commit() or when the block is left, which rolls back
    whatever was not committed. After a commit the block may go on: the next
    statement starts a new transaction."""

    def __init__(self, engine: Engine, *, reads_only: bool = False) -> None:
        self._engine = engine
        self._reads_only = reads_only
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already in use")
        with translate_errors():
            connection = self._engine.connect()
        self._connection = connection
        self.orders = SqlOrderRepository(connection)
        self.products = SqlProductRepository(connection)
        self.outbox = SqlOutbox(connection)
        self.idempotency = SqlIdempotencyStore(connection)
        # The ledger's table is in this database: notifications are recorded
        # in this transaction, not copied from the outbox by the relay.
        self.notifications = SqlNotificationRecorder(connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with translate_errors():
                connection.rollback()
            # Nothing open: the pool need not roll back. Not on a connection
            # the driver lost (invalidated): reading its `info` would check a
            # new connection out of the pool, and while the database is down
            # that raised a raw OperationalError out of this block, past
            # every `except InfrastructureError` (it killed the relay's
            # thread in the fault suite's database outage).
            if not connection.invalidated:
                connection.info[CLEAN] = True
        except StorageUnavailable:
            # With an error already on its way out, that error is the one to
            # report; the broken connection is discarded by close() below.
            if exc is None:
                raise
        finally:
            connection.close()

    def commit(self) -> None:
        if self._connection is None:
            raise RuntimeError("commit outside of a 'with' block")
        if self._reads_only:
            raise RuntimeError("a reading unit of work cannot commit")
        with translate_errors():
            self._connection.commit()

    def rollback(self) -> None:
        if self._connection is None:
            return
        with translate_errors():
            self._connection.rollback()


class SqlUnitOfWorkFactory(UnitOfWorkFactory):
    # Row locks are per row: a batch locks its orders, then their products,
    # each set in sorted id order, so batches neither deadlock nor oversell.
    batch_limit = 1000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = read_only(engine)

    @classmethod
    def from_url(cls, url: str) -> Self:
        return cls(make_engine(url))

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    def reading(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._reader, reads_only=True)

    def ping(self) -> None:
        # A bare DBAPI round trip: through a SQLAlchemy Connection, SQLite
        # would BEGIN IMMEDIATE and so queue behind every writer. At this
        # level the driver's own errors arrive unwrapped.
        dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        try:
            with translate_errors():
                connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("SELECT 1")
                cursor.fetchall()
                cursor.close()
            except dbapi_error as error:
                connection.invalidate(error)
                raise
            finally:
                connection.close()
        except dbapi_error as error:
            raise StorageUnavailable(f"database ping failed: {error}") from error

    def close(self) -> None:
        self.engine.dispose()
