"""One bench run, phase by phase; every figure is measured right beside its
baseline, on the same services, in the same run.

1. intake: `orderflow api` alone (no relay or workers competing for the
   cores) under wrk POSTs, then a bare INSERT + COMMIT endpoint (gunicorn).
2. processing: a backlog of placed orders, stored and on the orders topic;
   first a kafka-python consumer reads it and does nothing, then the relay
   and the workers start and the rate of finished orders is measured.
3. intake_loaded: POSTs again, now with the relay and the workers running
   (the production arrangement on one box), against the same run's
   API-alone intake; then the time to settle the backlog after the load
   stops, and `pipeline`: orders accepted and settled per second over the
   load and the drain together.
4. read_cached: GETs of finished orders whose cache entries are warm, then a
   bare Redis GET endpoint (gunicorn) over the same keys.
5. search: GET /api/products?search= over the catalog, then a bare endpoint
   running a hand-written LIKE search.
6. e2e: orders POSTed at a fixed rate, each timed until its terminal event
   is on the events topic; then raw produce-to-consume latency on the broker.
7. sqlite_contention: `orderflow serve` on SQLite, intake latency beside
   full-scan searches against intake alone (sqlite_contention.py).

Every phase but sqlite_contention also reads the CPU time of every process over its measured
window (tools/bench/cpu.py): milliseconds of CPU per order, by process."""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from orderflow.adapters.sqlalchemy.engine import make_engine
from orderflow.application.messages import Topics
from tools.bench import data, hops, sqlite_contention
from tools.bench.baseline_apps import BASELINE_TABLE_DDL
from tools.bench.cpu import CpuMeter, CpuReading, add_up, listening_pid, per_order_ms
from tools.bench.errors import BenchError
from tools.bench.figures import Figure
from tools.bench.kafka_baselines import produce_consume_latency_ms, raw_consume_rate
from tools.bench.openloop import run_open_loop
from tools.bench.stack import Processes, Services, orderflow_env, running_services
from tools.bench.wrk import WrkResult, combine, ensure_wrk, requests_script, run_wrk

log = logging.getLogger(__name__)

MAX_ERROR_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Report:
    figures: list[Figure]
    #: phase -> process -> milliseconds of CPU per order (or request)
    cpu: dict[str, dict[str, float]]


@dataclass(frozen=True, slots=True)
class Scale:
    catalog: int
    backlog: int
    measure_s: float  # each wrk measurement
    warmup_s: float
    read_ids: int
    e2e_rate: float
    e2e_s: float
    probe_s: float  # the raw produce-to-consume latency baseline
    sqlite_catalog: int = 50_000  # the sqlite_contention phase's products
    connections: int = 16
    search_connections: int = 4
    rounds: int = 3  # ours and the baseline alternate this many times


SCALES = {
    "full": Scale(
        catalog=100_000,
        backlog=50_000,
        measure_s=15,
        warmup_s=2,
        read_ids=2000,
        e2e_rate=300,
        e2e_s=30,
        probe_s=10,
    ),
    "quick": Scale(
        catalog=100_000,
        backlog=6_000,
        measure_s=4,
        warmup_s=1,
        read_ids=300,
        e2e_rate=300,
        e2e_s=6,
        probe_s=3,
        sqlite_catalog=20_000,
        rounds=2,
    ),
    # The CI smoke: every phase, at a size that proves the harness works.
    "tiny": Scale(
        catalog=2000,
        backlog=500,
        measure_s=1,
        warmup_s=0,
        read_ids=50,
        e2e_rate=50,
        e2e_s=2,
        probe_s=1,
        sqlite_catalog=2000,
        connections=4,
        search_connections=2,
        rounds=1,
    ),
}


@dataclass(frozen=True, slots=True)
class Options:
    scale: Scale
    worker_processes: int = 2
    api_processes: int = os.cpu_count() or 1
    api_threads: int = 8
    keep_logs: bool = False
    # Phases to run (PHASES order); empty runs them all. read_cached reads
    # the orders the processing phase finished, so it brings processing along.
    only: frozenset[str] = frozenset()

    def runs(self, phase: str) -> bool:
        if not self.only:
            return True
        # read_cached reads what processing finished; intake_loaded is compared
        # with the same run's API-alone intake.
        needs = {"processing": "read_cached", "intake": "intake_loaded"}
        return phase in self.only or needs.get(phase) in self.only


PHASES = (
    "intake",
    "processing",
    "intake_loaded",
    "read_cached",
    "search",
    "e2e",
    "sqlite_contention",
)


def run(options: Options, say: Callable[[str], None] = print) -> Report:
    ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="orderflow-bench-"))
    say(f"bench: logs in {workdir}")
    failed = True
    try:
        with running_services() as svc:
            processes = Processes(workdir, orderflow_env(svc, ORDERFLOW_LOG_LEVEL="WARNING"))
            try:
                report = _Run(options, svc, processes, say).all()
            finally:
                processes.stop_all()
        failed = False
        return report
    finally:
        if failed or options.keep_logs:
            say(f"bench: logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


class _Run:
    def __init__(
        self, options: Options, svc: Services, processes: Processes, say: Callable[[str], None]
    ) -> None:
        self.options = options
        self.scale = options.scale
        self.svc = svc
        self.processes = processes
        self.say = say
        env = processes.env
        self.topics = Topics(
            orders=env["ORDERFLOW_ORDERS_TOPIC"],
            events=env["ORDERFLOW_EVENTS_TOPIC"],
            dlq=env["ORDERFLOW_DLQ_TOPIC"],
        )
        self.baseline_env = {
            "BENCH_DATABASE_URL": svc.database_url,
            "BENCH_REDIS_URL": svc.cache_url,
        }
        self.figures: list[Figure] = []
        self.engine: Engine = make_engine(svc.database_url)
        self.backlog_ids: list[str] = []
        self.pipeline_started = False
        self.shop: dict[str, str] = {}
        self.ops: dict[str, str] = {}
        self.cpu: dict[str, dict[str, float]] = {}
        self.intake_alone: WrkResult | None = None

    def all(self) -> Report:
        try:
            # sqlite_contention brings its own server and database.
            if any(self.options.runs(phase) for phase in PHASES[:-1]):
                self.prepare()
                self.api = self.processes.api(
                    workers=self.options.api_processes, threads=self.options.api_threads
                )
            phases = {
                "intake": self.intake,
                "processing": self.processing,
                "intake_loaded": self.intake_loaded,
                "read_cached": self.read_cached,
                "search": self.search,
                "e2e": self.end_to_end,
                "sqlite_contention": self.sqlite_contention,
            }
            for phase in PHASES:
                if self.options.runs(phase):
                    phases[phase]()
        finally:
            self.engine.dispose()
        return Report(self.figures, self.cpu)

    def _key(self, role: str) -> dict[str, str]:
        output = self.processes.run("keys", "create", "--name", f"bench-{role}", "--role", role)
        return {"Authorization": f"Bearer {output.strip().splitlines()[-1]}"}

    # --- phases ---------------------------------------------------------------

    def prepare(self) -> None:
        started = time.monotonic()
        self.processes.run("migrate")
        with self.engine.begin() as connection:
            connection.execute(text(BASELINE_TABLE_DDL))
        data.load_catalog(self.engine, self.scale.catalog)
        # As services would: a shop key places the intake orders, an ops key
        # reads the backlog (stored straight in the database, owned by no one).
        self.shop = self._key("shop")
        self.ops = self._key("ops")
        self.say(
            f"bench: schema and {self.scale.catalog:,} products in "
            f"{time.monotonic() - started:.1f} s"
        )

    def intake(self) -> None:
        bodies = data.order_bodies(200)
        ours, base = self._compare(
            "intake",
            requests_script("POST", [("/api/orders", body) for body in bodies], self.shop),
            "insert_app",
            requests_script("POST", [("/orders", body) for body in bodies]),
            self.scale.connections,
        )
        what = "POST /api/orders"
        base_is = "bare Flask INSERT+COMMIT, gunicorn sync"
        self._add("intake", ours.rate, "req/s", base.rate, base_is, what + " throughput")
        self._add("intake_p50", ours.p50_ms, "ms", base.p50_ms, base_is, what + " p50")
        self._add("intake_p99", ours.p99_ms, "ms", base.p99_ms, base_is, what + " p99")
        self.intake_alone = ours
        # The intake orders leave: the processing phase measures its own backlog.
        with self.engine.begin() as connection:
            for table in ("outbox", "idempotency_keys", "orders"):
                connection.execute(text(f"DELETE FROM {table}"))

    def intake_loaded(self) -> None:
        """Intake beside processing, the production arrangement on one box."""
        assert self.intake_alone is not None, "intake runs first"
        self._start_pipeline()
        self._settle(timeout_s=900)  # nothing left over from earlier phases
        bodies = data.order_bodies(200, seed=23)
        script = requests_script("POST", [("/api/orders", body) for body in bodies], self.shop)
        meter = self._meter()
        before = meter.read()
        loaded = run_wrk(
            self.api, script, duration_s=self.scale.measure_s, connections=self.scale.connections
        )
        stopped = time.monotonic()
        self._settle(timeout_s=900)
        drain_s = time.monotonic() - stopped
        accepted = loaded.requests - loaded.errors
        self.cpu["intake_loaded"] = per_order_ms(before, meter.read(), accepted)
        if loaded.errors > loaded.requests * MAX_ERROR_SHARE:
            raise BenchError(f"intake_loaded: {loaded.errors} errors in {loaded.requests}")
        alone = self.intake_alone
        self.say(
            f"bench: intake_loaded: {loaded.rate:,.0f} req/s, p99 {loaded.p99_ms:.1f} ms; "
            f"{accepted:,} orders settled {drain_s:.2f} s after the load stopped"
        )
        base_is = "API-alone intake, same run"
        what = f"POST /api/orders with the relay and {self.options.worker_processes} workers"
        self._add("intake_loaded", loaded.rate, "req/s", alone.rate, base_is, what)
        self._add("intake_loaded_p99", loaded.p99_ms, "ms", alone.p99_ms, base_is, what + " p99")
        pipeline = accepted / (loaded.duration_s + drain_s)
        self._add(
            "pipeline",
            pipeline,
            "orders/s",
            alone.rate,
            base_is,
            "orders accepted and settled per second, the drain after the load included",
        )
        self._add(
            "drain",
            drain_s,
            "s",
            loaded.duration_s,
            "the load's own duration",
            "time to settle every order after the load stops",
        )

    def _settle(self, *, timeout_s: float) -> None:
        """Wait until no order is pending or processing (settled = terminal)."""
        query = text("SELECT COUNT(*) FROM orders WHERE status IN ('pending', 'processing')")
        deadline = time.monotonic() + timeout_s
        while True:
            with self.engine.connect() as connection:
                left = int(connection.execute(query).scalar_one())
            if left == 0:
                return
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{left} orders still unsettled after {timeout_s:.0f} s:\n"
                    + self.processes.log_tail("worker-1")
                )
            time.sleep(0.02)

    def _meter(self) -> CpuMeter:
        """Every process of this run, and the servers it uses."""
        pids = {name: process.pid for name, process in self.processes.running}
        for name, port in (
            ("broker", urllib.parse.urlsplit(self.svc.broker_url.split(",")[0]).port),
            ("mariadb", urllib.parse.urlsplit(self.svc.database_url).port or 3306),
            ("redis", urllib.parse.urlsplit(self.svc.cache_url).port or 6379),
        ):
            pid = listening_pid(port) if port else None
            if pid is not None:
                pids[name] = pid
        return CpuMeter(pids)

    def processing(self) -> None:
        started = time.monotonic()
        placed = data.backlog_orders(self.scale.backlog)
        data.store_orders(self.engine, placed)
        data.publish_placed(self.svc.broker_url, self.topics, placed)
        self.backlog_ids = [order.id for order in placed]
        self.say(f"bench: backlog of {len(placed):,} orders in {time.monotonic() - started:.1f} s")
        raw = raw_consume_rate(self.svc.broker_url, self.topics.orders, len(placed))
        self.say(f"bench: raw consume {raw:,.0f} msg/s")
        before = self._meter().read()
        self._start_pipeline()  # their start-up counts: a process read first here reads from 0
        rate = self._finish_rate(len(placed))
        self.cpu["processing"] = per_order_ms(before, self._meter().read(), len(placed))
        self.say(f"bench: processing {rate:,.0f} orders/s")
        self._add(
            "processing",
            rate,
            "orders/s",
            raw,
            "kafka-python consumer doing nothing",
            f"backlog of {len(placed):,} through {self.options.worker_processes} workers",
        )

    def read_cached(self) -> None:
        ids = random.Random(3).sample(
            self.backlog_ids, min(self.scale.read_ids, len(self.backlog_ids))
        )
        for order_id in ids:  # warm: every entry is in Redis (and in any process cache)
            request = urllib.request.Request(f"{self.api}/api/orders/{order_id}", headers=self.ops)
            with urllib.request.urlopen(request, timeout=10) as r:
                r.read()
        ours, base = self._compare(
            "read_cached",
            requests_script("GET", [(f"/api/orders/{i}", None) for i in ids], self.ops),
            "redis_app",
            requests_script("GET", [(f"/orders/{i}", None) for i in ids]),
            self.scale.connections,
        )
        what = "GET /api/orders/<id>, warm cache"
        base_is = "bare Flask Redis GET, gunicorn sync"
        self._add("read_cached", ours.rate, "req/s", base.rate, base_is, what + " throughput")
        self._add("read_cached_p50", ours.p50_ms, "ms", base.p50_ms, base_is, what + " p50")
        self._add("read_cached_p99", ours.p99_ms, "ms", base.p99_ms, base_is, what + " p99")

    def search(self) -> None:
        terms = [urllib.parse.quote(term) for term in data.SEARCH_TERMS]
        ours, base = self._compare(
            "search",
            requests_script("GET", [(f"/api/products?search={t}&limit=20", None) for t in terms]),
            "search_app",
            requests_script("GET", [(f"/products?search={t}&limit=20", None) for t in terms]),
            self.scale.search_connections,
        )
        what = f"GET /api/products?search= over {self.scale.catalog:,} products"
        base_is = "bare Flask LIKE query, gunicorn sync"
        self._add("search", ours.p99_ms, "ms", base.p99_ms, base_is, what + " p99")
        self._add("search_p50", ours.p50_ms, "ms", base.p50_ms, base_is, what + " p50")
        self._add("search_rate", ours.rate, "req/s", base.rate, base_is, what + " throughput")

    def end_to_end(self) -> None:
        scale = self.scale
        if not self.pipeline_started:
            self._start_pipeline()
            # Just started (`--only e2e`): the workers join their group on
            # their first poll, which takes seconds on the test broker. Wait
            # until orders go through, or the run measures the join.
            run_open_loop(
                self.api,
                data.order_bodies(20, seed=18),
                broker_url=self.svc.broker_url,
                events_topic=self.topics.events,
                rate=20,
                duration_s=2,
                headers=self.shop,
            )
        meter = self._meter()
        before = meter.read()
        result = run_open_loop(
            self.api,
            data.order_bodies(500, seed=17),
            broker_url=self.svc.broker_url,
            events_topic=self.topics.events,
            rate=scale.e2e_rate,
            duration_s=scale.e2e_s,
            headers=self.shop,
        )
        if result.errors > result.offered * MAX_ERROR_SHARE:
            raise BenchError(f"end to end: {result.errors} of {result.offered} POSTs failed")
        self.cpu["e2e"] = per_order_ms(before, meter.read(), result.completed)
        unfinished = result.offered - result.errors - result.completed
        self.say(
            f"bench: e2e: p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
            f"(POST answered: p99 {result.post_p99_ms:.1f} ms), {unfinished} unfinished"
        )
        if os.environ.get("ORDERFLOW_BENCH_HOPS"):
            # Where the time went, per hop (bench/hops.py): costs a few seconds.
            self.say(
                hops.report(
                    hops.breakdown(
                        result.timings,
                        engine=self.engine,
                        broker_url=self.svc.broker_url,
                        orders_topic=self.topics.orders,
                        events_topic=self.topics.events,
                    )
                )
            )
        p50, p99 = produce_consume_latency_ms(
            self.svc.broker_url, rate=scale.e2e_rate, duration_s=scale.probe_s
        )
        what = f"POST to terminal event, {scale.e2e_rate:g} orders/s offered"
        if unfinished:
            what += f" ({unfinished} never finished: a lower bound)"
        base_is = "kafka-python produce to consume"
        self._add("e2e_p99", result.p99_ms, "ms", p99, base_is, what + " p99")
        self._add("e2e_p50", result.p50_ms, "ms", p50, base_is, what + " p50")

    def sqlite_contention(self) -> None:
        scale = self.scale
        try:
            self.figures += sqlite_contention.measure(
                self.processes,
                catalog=scale.sqlite_catalog,
                duration_s=scale.measure_s / scale.rounds,
                rounds=scale.rounds,
                say=self.say,
            )
        finally:
            self._stop("serve")

    # --- helpers ----------------------------------------------------------------

    def _start_pipeline(self) -> None:
        """The relay and the workers, once (the phases after processing reuse them)."""
        if self.pipeline_started:
            return
        self.processes.spawn_orderflow("relay", "relay")
        for index in range(self.options.worker_processes):
            self.processes.spawn_orderflow(f"worker-{index + 1}", "worker")
        self.pipeline_started = True

    def _compare(
        self, name: str, script: str, baseline_app: str, baseline_script: str, connections: int
    ) -> tuple[WrkResult, WrkResult]:
        """Ours and the baseline (a bare app under gunicorn, sync workers, one
        per core) in alternating rounds, so that a burst of load from
        elsewhere on the machine falls on both alike."""
        baseline_url = self.processes.gunicorn(
            f"baseline-{name}",
            f"tools.bench.baseline_apps:{baseline_app}()",
            workers=os.cpu_count() or 1,
            env=self.baseline_env,
        )
        meter = self._meter()
        runs: dict[str, list[WrkResult]] = {name: [], f"{name} baseline": []}
        windows: dict[str, list[tuple[CpuReading, CpuReading]]] = {label: [] for label in runs}
        try:
            if self.scale.warmup_s:
                for url, body in ((self.api, script), (baseline_url, baseline_script)):
                    run_wrk(url, body, duration_s=self.scale.warmup_s, connections=connections)
            slice_s = self.scale.measure_s / self.scale.rounds
            for _ in range(self.scale.rounds):
                for label, url, body in (
                    (name, self.api, script),
                    (f"{name} baseline", baseline_url, baseline_script),
                ):
                    before = meter.read()
                    runs[label].append(
                        run_wrk(url, body, duration_s=slice_s, connections=connections)
                    )
                    windows[label].append((before, meter.read()))
        finally:
            self._stop(f"baseline-{name}")
        results = combine(runs[name]), combine(runs[f"{name} baseline"])
        for (label, spans), result in zip(windows.items(), results, strict=True):
            self.cpu[label] = per_order_ms(*add_up(spans), result.requests)
        for label, result in zip((name, f"{name} baseline"), results, strict=True):
            if result.errors > result.requests * MAX_ERROR_SHARE:
                raise BenchError(f"{label}: {result.errors} errors in {result.requests} requests")
            self.say(
                f"bench: {label}: {result.rate:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                f"p99 {result.p99_ms:.1f} ms"
            )
        return results

    def _finish_rate(self, expected: int, *, timeout_s: float = 900) -> float:
        """Finished orders/s, from the first finished order seen to the last."""
        query = text("SELECT COUNT(*) FROM orders WHERE status IN ('completed', 'failed')")
        # The count reads an index range as long as the finished orders: asked
        # ten times a second it took a measurable share of the cores it measures.
        interval_s = 0.5 if expected >= 5000 else 0.1
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + timeout_s
        while True:
            with self.engine.connect() as connection:
                done = int(connection.execute(query).scalar_one())
            now = time.monotonic()
            if done and first is None:
                first = (now, done)
            if done >= expected:
                break
            if now > deadline:
                raise BenchError(
                    f"processing: {done} of {expected} orders finished in {timeout_s:.0f} s:\n"
                    + self.processes.log_tail("worker-1")
                )
            time.sleep(interval_s)
        assert first is not None
        return (done - first[1]) / max(now - first[0], 1e-6)

    def _stop(self, name: str) -> None:
        for running_name, process in list(self.processes.running):
            if running_name == name:
                self.processes.stop(process)

    def _add(
        self, name: str, value: float, unit: str, baseline: float, baseline_is: str, what: str
    ) -> None:
        self.figures.append(Figure(name, value, unit, baseline, baseline_is, what))
