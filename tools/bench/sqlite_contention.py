"""The sqlite_contention phase: does a slow search delay intake on the
embedded SQLite file? `orderflow serve` on a fresh file holding the catalog;
POST /api/orders under wrk alone (the baseline), then while SEARCHERS more
connections search for `%` and `_` without pause (no product holds either,
and a text without trigrams is matched by reading every product, so each
search reads the whole catalog). Rounds alternate, as in every phase; the
ratio is the slowdown searches cause. The searches are counted too: a
figure beside searches that mostly failed, or never ran, measures nothing."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orderflow.adapters.sqlalchemy.engine import make_engine
from tools.bench import data
from tools.bench.errors import BenchError
from tools.bench.figures import Figure
from tools.bench.stack import Processes
from tools.bench.wrk import WrkResult, combine, requests_script, run_wrk

SEARCHERS = 8
INTAKE_CONNECTIONS = 4
# Enough HTTP threads for every connection at once: what is measured is the
# database's locking, not requests queueing for a thread.
SERVE_THREADS = SEARCHERS + INTAKE_CONNECTIONS + 4
FULL_SCANS = ("%", "_", "%_", "_%")
MAX_ERROR_SHARE = 0.01


def measure(
    processes: Processes,
    *,
    catalog: int,
    duration_s: float,
    rounds: int,
    say: Callable[[str], None],
) -> list[Figure]:
    database = processes.workdir / "contention.sqlite3"
    env = {
        **processes.env,
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{database}",
        "ORDERFLOW_BROKER_URL": "memory://",
        "ORDERFLOW_CACHE_URL": "memory://",
    }
    processes.run("migrate", env=env)
    _load(database, catalog)
    output = processes.run("keys", "create", "--name", "bench-sqlite", "--role", "shop", env=env)
    shop = {"Authorization": f"Bearer {output.strip().splitlines()[-1]}"}
    base = processes.serve(env, threads=SERVE_THREADS)
    intake = requests_script("POST", [("/api/orders", b) for b in data.order_bodies(200)], shop)
    searches = requests_script(
        "GET", [(f"/api/products?search={urllib.parse.quote(t)}", None) for t in FULL_SCANS], shop
    )
    alone: list[WrkResult] = []
    contended: list[WrkResult] = []
    searched: list[WrkResult] = []
    for _ in range(rounds):
        alone.append(run_wrk(base, intake, duration_s=duration_s, connections=INTAKE_CONNECTIONS))
        beside, search_round = _beside_searches(base, intake, searches, duration_s)
        contended.append(beside)
        searched.append(search_round)
    _check_searches(combine(searched), say)
    quiet, busy = combine(alone), combine(contended)
    for label, result in (("alone", quiet), ("beside searches", busy)):
        if result.errors > result.requests * MAX_ERROR_SHARE:
            raise BenchError(f"sqlite intake {label}: {result.errors} errors")
        say(
            f"bench: sqlite intake {label}: {result.rate:,.0f} req/s, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
        )
    what = f"POST /api/orders on SQLite ({catalog:,} products), {SEARCHERS} full scans beside"
    base_is = "the same intake with no searches running"
    return [
        Figure("sqlite_intake_p50", busy.p50_ms, "ms", quiet.p50_ms, base_is, what + ", p50"),
        Figure("sqlite_intake_p99", busy.p99_ms, "ms", quiet.p99_ms, base_is, what + ", p99"),
    ]


def _load(database: Path, size: int) -> None:
    engine = make_engine(f"sqlite:///{database}")
    try:
        data.insert_catalog(engine, size)
    finally:
        engine.dispose()


def _beside_searches(
    base: str, intake: str, searches: str, duration_s: float
) -> tuple[WrkResult, WrkResult]:
    """Intake measured while the searchers run for the whole of it (they
    start first and end after), and what the searchers did."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        searching = pool.submit(
            run_wrk,
            base,
            searches,
            duration_s=duration_s + 2,
            connections=SEARCHERS,
            timeout_s=30,
        )
        time.sleep(1.0)  # the searches are under way
        measured = run_wrk(base, intake, duration_s=duration_s, connections=INTAKE_CONNECTIONS)
        return measured, searching.result()


def _check_searches(searched: WrkResult, say: Callable[[str], None]) -> None:
    """The searchers' rounds together: some completed, and no more than
    MAX_ERROR_SHARE of them failed (an error answer, a timeout, a socket
    error)."""
    if searched.requests == 0:
        raise BenchError("sqlite searches beside intake: none completed")
    if searched.errors > searched.requests * MAX_ERROR_SHARE:
        raise BenchError(
            f"sqlite searches beside intake: {searched.errors} of {searched.requests} failed"
        )
    say(
        f"bench: sqlite searches beside intake: {searched.requests:,} searches "
        f"by {SEARCHERS} searchers ({searched.rate:,.1f}/s), {searched.errors} failed"
    )
