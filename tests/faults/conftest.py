"""The fault-injection suite's stack, one per store, shared by the
scenarios (one start-up per store): a Tansu broker of its own (so it can be
stopped with SIGSTOP), a scratch database on the store (MariaDB, PostgreSQL
or MongoDB: tests/faults/stores.py) and a claimed Redis database, each of the
last two behind a TcpProxy; `orderflow api`, `orderflow relay` and three
`orderflow worker`s as OS processes; a webhook receiver counting notifications.

Every scenario runs on every store, in turn (pytest groups the tests by the
session fixture's parameter). ORDERFLOW_FAULT_STORES=mariadb,mongodb runs a
subset while working on the suite; CI runs them all.

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
from tests.faults.stores import SCALES, STORES, provision, view_of
from tests.support import services
from tests.support.processes import Service, ServiceError, free_port
from tests.support.proxy import TcpProxy
from tests.support.stack import Stack, stack_env
from tests.support.webhook import WebhookRecorder

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = ROOT / ".fault-results.json"
RESULTS: list[Figures] = []
STARTUP_S: dict[str, float] = {}  # store -> seconds until its stack was ready
PROCESSING_DELAY_MS = "3"
TOTALLED = (
    "orders",
    "faults",
    "lost",
    "duplicated",
    "oversold",
    "not_restored",
    "stuck",
    "stale",
)


def pytest_configure(config: pytest.Config) -> None:
    for api in ("read_text", "open_text"):  # kafka-python 3.0 on Python 3.11
        config.addinivalue_line("filterwarnings", f"ignore:{api} is deprecated:DeprecationWarning")


def chosen_stores() -> list[str]:
    given = os.environ.get("ORDERFLOW_FAULT_STORES", "")
    chosen = [name.strip() for name in given.split(",") if name.strip()] or list(STORES)
    unknown = sorted(set(chosen) - set(STORES))
    if unknown:
        raise pytest.UsageError(f"ORDERFLOW_FAULT_STORES: unknown {unknown}; known: {STORES}")
    return chosen


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


@pytest.fixture(scope="session", params=chosen_stores())
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    store: str = request.param
    started = time.monotonic()
    kafka = _started(services.start_kafka)
    database = _started(provision, store)
    given_redis = os.environ.get("ORDERFLOW_TEST_REDIS_URL")
    redis = None if given_redis else _started(services.ensure_redis)
    redis_url = given_redis or (redis.url if redis else "")

    db = urlsplit(database.url)
    cache = urlsplit(redis_url)
    assert db.hostname and db.port, f"the store's URL names no host and port: {database.url}"
    db_proxy = TcpProxy(db.hostname, db.port).start()
    redis_proxy = TcpProxy(cache.hostname or "127.0.0.1", cache.port or 6379).start()
    webhook = WebhookRecorder().start()
    workdir = tmp_path_factory.mktemp(f"fault-stack-{store}")
    stack = Stack(
        stack_env(
            database_url=_through(database.url, db_proxy),
            broker_url=kafka.url,
            cache_url=_through(redis_url, redis_proxy),
            notify_url=webhook.url,
            partitions=6,
            ORDERFLOW_PROCESSING_DELAY_MS=PROCESSING_DELAY_MS,
            # The sweeper re-drives what an outage left stranded within the
            # scenario's wait (MongoDB's relay claims outlive a cut connection).
            ORDERFLOW_STUCK_AFTER_S="12",
            ORDERFLOW_LOG_LEVEL="INFO",
        ),
        workdir,
    )
    rig = Rig(
        store=store,
        scale=SCALES[store],
        stack=stack,
        kafka=kafka,
        view=view_of(store, database.url),
        worker_metrics_ports={name: free_port() for name in WORKERS},
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
            metrics = ("--metrics-port", str(rig.worker_metrics_ports[name]))
            stack.spawn(name, "worker", *metrics, "--metrics-host", "127.0.0.1")
        stack.wait_ready()
        rig.startup_s = time.monotonic() - started
        STARTUP_S[store] = round(rig.startup_s, 1)
        yield rig
    finally:
        stack.stop()
        rig.view.close()
        for closer in (webhook.stop, db_proxy.stop, redis_proxy.stop):
            closer()
        for service in (kafka, database, redis):
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
    per_store: dict[str, dict[str, int]] = {}
    for f in RESULTS:
        totals = per_store.setdefault(f.store, dict.fromkeys(TOTALLED, 0))
        for name in TOTALLED:
            totals[name] += sum(f.faults.values()) if name == "faults" else getattr(f, name)
    for store, totals in per_store.items():
        terminalreporter.write_line(
            f"[faults] {store} total: " + " ".join(f"{k}={v}" for k, v in totals.items())
        )
    total = sum(f.orders for f in RESULTS)
    faults = sum(sum(f.faults.values()) for f in RESULTS)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "processing_delay_ms": int(PROCESSING_DELAY_MS),
                "total_orders": total,
                "total_faults": faults,
                "stores": {
                    store: {**totals, "startup_s": STARTUP_S.get(store)}
                    for store, totals in per_store.items()
                },
                "scenarios": [f.as_json() for f in RESULTS],
            },
            indent=2,
        )
        + "\n"
    )
