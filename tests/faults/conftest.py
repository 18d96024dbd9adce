"""The fault-injection suite's stack, shared by its scenarios (one start-up):
a Tansu broker of its own (so it can be stopped with SIGSTOP), a scratch
MariaDB database and a claimed Redis database, each of the last two behind a
TcpProxy; `orderflow api`, `orderflow relay` and three `orderflow worker`s as
OS processes; a webhook receiver counting notifications.

A service that cannot be started fails the suite: it never skips. Each
scenario's figures are printed at the end of the run and written to
.fault-results.json at the top of the checkout (docs/RELIABILITY.md quotes them)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.faults.rig import WORKERS, Figures, Rig
from tests.support import services
from tests.support.processes import Service, ServiceError
from tests.support.proxy import TcpProxy
from tests.support.stack import Stack, stack_env
from tests.support.webhook import WebhookRecorder

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = ROOT / ".fault-results.json"
RESULTS: list[Figures] = []
PROCESSING_DELAY_MS = "3"


def pytest_configure(config: pytest.Config) -> None:
    for api in ("read_text", "open_text"):  # kafka-python 3.0 on Python 3.11
        config.addinivalue_line("filterwarnings", f"ignore:{api} is deprecated:DeprecationWarning")


def _started(start: Any, *args: Any) -> Service:
    try:
        service: Service = start(*args)
    except ServiceError as exc:
        pytest.fail(f"fault suite: cannot start a service: {exc}", pytrace=False)
    return service


def _through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host:port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{proxy.address}" if credentials else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    started = time.monotonic()
    kafka = _started(services.start_kafka)
    given_mysql = os.environ.get("ORDERFLOW_TEST_MYSQL_URL")
    mysql = _started(services.scratch_database, given_mysql) if given_mysql else None
    mysql = mysql or _started(services.ensure_mariadb)
    given_redis = os.environ.get("ORDERFLOW_TEST_REDIS_URL")
    redis = None if given_redis else _started(services.ensure_redis)
    redis_url = given_redis or (redis.url if redis else "")

    db = urlsplit(mysql.url)
    cache = urlsplit(redis_url)
    db_proxy = TcpProxy(db.hostname or "127.0.0.1", db.port or 3306).start()
    redis_proxy = TcpProxy(cache.hostname or "127.0.0.1", cache.port or 6379).start()
    webhook = WebhookRecorder().start()
    workdir = tmp_path_factory.mktemp("fault-stack")
    stack = Stack(
        stack_env(
            database_url=_through(mysql.url, db_proxy),
            broker_url=kafka.url,
            cache_url=_through(redis_url, redis_proxy),
            notify_url=webhook.url,
            partitions=6,
            ORDERFLOW_PROCESSING_DELAY_MS=PROCESSING_DELAY_MS,
            ORDERFLOW_STUCK_AFTER_S="30",
            ORDERFLOW_LOG_LEVEL="INFO",
        ),
        workdir,
    )
    rig = Rig(
        stack=stack,
        kafka=kafka,
        database_url=mysql.url,
        db_proxy=db_proxy,
        redis_proxy=redis_proxy,
        webhook=webhook,
    )
    try:
        stack.run("migrate")
        rig.start_keys()
        stack.spawn("api", "api", "--port", str(stack.port), "--workers", "1")
        stack.spawn("relay", "relay")
        for name in WORKERS:
            stack.spawn(name, "worker")
        stack.wait_ready()
        rig.startup_s = time.monotonic() - started
        yield rig
    finally:
        stack.stop()
        rig.engine.dispose()
        for closer in (webhook.stop, db_proxy.stop, redis_proxy.stop):
            closer()
        for service in (kafka, mysql, redis):
            if service is not None:
                service.stop()


@pytest.fixture
def healthy(rig: Rig) -> Iterator[Rig]:
    """The rig, and after the scenario every fault undone: a failed scenario
    must not take the next one down with it."""
    yield rig
    rig.db_proxy.resume()
    rig.redis_proxy.resume()
    process = rig.kafka.process
    if process is not None and process.poll() is None:
        os.kill(process.pid, signal.SIGCONT)
    for name in WORKERS:
        if not rig.stack.alive(name):
            rig.stack.restart(name)


@pytest.fixture
def results() -> list[Figures]:
    return RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault injection: figures per scenario")
    for figures in RESULTS:
        terminalreporter.write_line(figures.line())
    total = sum(f.orders for f in RESULTS)
    faults = sum(sum(f.faults.values()) for f in RESULTS)
    terminalreporter.write_line(f"[faults] total: orders={total} faults={faults}")
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "processing_delay_ms": int(PROCESSING_DELAY_MS),
                "total_orders": total,
                "total_faults": faults,
                "scenarios": [f.as_json() for f in RESULTS],
            },
            indent=2,
        )
        + "\n"
    )
