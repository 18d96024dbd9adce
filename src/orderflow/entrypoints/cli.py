"""The `orderflow` command. Every command reads the ORDERFLOW_* configuration."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import click

from orderflow.bootstrap import Orderflow, bootstrap
from orderflow.config import Settings
from orderflow.domain.errors import InfrastructureError, InvalidInput
from orderflow.domain.identity import Role
from orderflow.entrypoints.catalog_files import CatalogFileError, demo_catalog, read_catalog
from orderflow.entrypoints.cli_help import command_epilog, main_epilog
from orderflow.entrypoints.dlq import DeadLetterQueue, dlq_group, position, table
from orderflow.entrypoints.http.readiness import Check, ReadinessProbe
from orderflow.entrypoints.listening import ensure_port_free
from orderflow.entrypoints.runtime import BackgroundRuntime, Loop
from orderflow.entrypoints.worker_readiness import PartitionReadiness

log = logging.getLogger("orderflow")

DEFAULT_PORT = 4000
WATCH_EVERY_S = 5.0


def _configure_logging(level: str) -> None:
    from orderflow.entrypoints.logs import configure

    configure(level)


def _on_sigterm(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT ask the loop to finish its batch, commit and exit."""

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s received, finishing the current batch", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _ensure_sqlite_dir(settings: Settings) -> None:
    parts = urlsplit(settings.database_url)
    if parts.scheme.startswith("sqlite") and parts.path not in ("", "/", "/:memory:"):
        Path(parts.path[1:] if parts.path.startswith("//") else parts.path).parent.mkdir(
            parents=True, exist_ok=True
        )


def prepare(app: Orderflow, *, demo: bool) -> None:
    """Schema up to date, topics created, demo catalog loaded on first start."""
    _ensure_sqlite_dir(app.settings)
    click.echo(app.migrate())
    app.ensure_topics()
    if demo and app.catalog.count() == 0:
        products = demo_catalog()
        app.catalog.upsert_many(products)
        click.echo(f"loaded the demo catalog ({len(products)} products)")


BEHIND = "the database schema is behind this release of orderflow: run `orderflow migrate` first"


def _require_current_schema(app: Orderflow) -> None:
    """api, worker and relay never migrate (replicas would race each other):
    on a schema that is behind they stop here, before touching anything."""
    try:
        state = app.schema_state()
    except InfrastructureError as exc:
        app.close()
        raise click.ClickException(f"cannot read the database schema: {exc}") from exc
    if state == "behind":
        app.close()
        raise click.ClickException(BEHIND)
    if state == "ahead":
        log.warning("the database schema is newer than this release (a rolling upgrade?)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=main_epilog())
@click.option(
    "--log-level",
    default=lambda: os.environ.get("ORDERFLOW_LOG_LEVEL", "INFO"),
    show_default="INFO",
    help="Logging level.",
)
def main(log_level: str) -> None:
    """orderflow: e-commerce order processing (see README.md)."""
    _configure_logging(log_level)


# Request threads of the HTTP server (per process under `api`): both
# commands, the same default and check (_check_threads).
_THREADS = click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="HTTP request threads, per server process (docs/OPERATIONS.md: Serving).",
)


@main.command(epilog=command_epilog("serve"))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker threads consuming the order queue.",
)
@_THREADS
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Embedded mode: API, relay and workers in one process (demo catalog loaded)."""
    from orderflow.entrypoints.http.app import create_app
    from orderflow.entrypoints.http.hosts import LOOPBACK
    from orderflow.entrypoints.http_servers import run_waitress

    ensure_port_free(host, port)
    _check_threads(threads, Settings())
    app = bootstrap()
    prepare(app, demo=True)
    runtime = BackgroundRuntime(app, workers=workers)
    runtime.start(redrive_unfinished=app.settings.broker_kind == "memory")
    click.echo(f"orderflow serving on http://{host}:{port} ({app.settings.database_url})")
    # The demo answers for this machine's own names unless told otherwise.
    trusted = app.settings.trusted_host_names
    config = {"TRUSTED_HOST_NAMES": LOOPBACK if trusted is None else trusted}
    # SIGTERM (a service manager's, a container's stop) ends waitress's loop
    # as Ctrl-C does, so the background loops stop and the container's
    # Resources close: the tracer provider exports the spans it still holds.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        run_waitress(
            create_app(app, config=config),
            host=host,
            port=port,
            threads=threads,
            settings=app.settings,
        )
    finally:
        runtime.stop()
        app.close()


@main.command(epilog=command_epilog("api"))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--workers",
    default=lambda: os.cpu_count() or 1,
    type=click.IntRange(1, 256),
    show_default="one per core",
    help="Server processes.",
)
@_THREADS
def api(host: str, port: int, workers: int, threads: int) -> None:
    """The HTTP API under a production WSGI server (granian); no background work."""
    from orderflow.entrypoints.http_servers import run_granian

    ensure_port_free(host, port)
    _check_threads(threads, Settings())
    # The server processes trace their requests; this one only checks.
    app = bootstrap(traces_exporter="none")
    if app.settings.broker_kind == "memory":
        raise click.UsageError(
            "`orderflow api` runs without workers: set ORDERFLOW_BROKER_URL to kafka://... "
            "or use `orderflow serve` for the embedded mode"
        )
    if app.settings.id_secret is None and not app.settings.database_url.startswith("sqlite"):
        # Every API process derives keyed order ids with it: they must share one.
        raise click.UsageError(
            "set ORDERFLOW_ID_SECRET (at least 32 bytes, e.g. `openssl rand -hex 32`), "
            "the same on every API process (docs/SECURITY.md)"
        )
    _require_current_schema(app)
    app.ensure_topics()
    app.close()
    _share_api_metrics(workers)
    if app.settings.trusted_host_names is None:
        log.info("answering for any Host: set ORDERFLOW_TRUSTED_HOSTS to the names clients use")
    run_granian(host=host, port=port, workers=workers, threads=threads, settings=app.settings)


def _check_threads(threads: int, settings: Settings) -> None:
    """A live status stream holds a request thread while it lasts: with no
    thread left over, streams alone could stop a process answering."""
    if threads <= settings.stream_max_concurrent:
        raise click.UsageError(
            f"--threads {threads} leaves no thread for requests beside "
            f"ORDERFLOW_STREAM_MAX_CONCURRENT={settings.stream_max_concurrent} "
            "live status streams: give more threads or allow fewer streams"
        )


def _serve_metrics(
    app: Orderflow, port: int | None, host: str, checks: Mapping[str, Check] | None = None
) -> None:
    """/metrics, and /ready running `checks`, on HOST:PORT when a port is given."""
    if port is None:
        return
    probe = ReadinessProbe(lambda: checks or {}, timeout_s=lambda: 1.0)

    def ready() -> tuple[int, bytes]:
        results = probe.run()
        failed = [name for name, result in results.items() if not result.ok]
        body = {
            "status": "not ready" if failed else "ready",
            "failed": failed,
            "checks": {name: result.to_dict() for name, result in results.items()},
        }
        return (503 if failed else 200), json.dumps(body).encode()

    app.serve_metrics(port=port, host=host, routes={"/ready": ready})
    log.info("metrics on http://%s:%d/metrics, readiness on /ready", host, port)


def _share_api_metrics(workers: int) -> None:
    """Several granian processes answer one port: their counters must add up
    on every /metrics (prometheus_client multiprocess mode). The directory
    must start empty; one named by PROMETHEUS_MULTIPROC_DIR is emptied."""
    if workers < 2:
        return
    import tempfile

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="orderflow-metrics-"
    )
    for stale in Path(directory).glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


_METRICS_PORT = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this process's Prometheus metrics on http://HOST:PORT/metrics "
    "and its readiness on /ready.",
)
_METRICS_HOST = click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address for --metrics-port (metrics and readiness details are for operators: "
    "open it to the scraper's network only).",
)


def _run_loops(
    loops: Sequence[Loop], app: Orderflow, *, watch: Callable[[], None] | None = None
) -> None:
    """Run `loops` in threads until a signal or one of them dies; `watch` is
    called every few seconds (it logs what it finds wrong)."""
    stopping = threading.Event()

    def stop_all() -> None:
        stopping.set()
        for loop in loops:
            loop.stop()

    _on_sigterm(stop_all)
    threads = [threading.Thread(target=loop.run, name=f"loop-{i}") for i, loop in enumerate(loops)]
    for thread in threads:
        thread.start()
    died = False
    next_watch = time.monotonic() + WATCH_EVERY_S
    # Join with a timeout so the main thread stays responsive to signals.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(0.2)
        if watch is not None and time.monotonic() >= next_watch:
            next_watch = time.monotonic() + WATCH_EVERY_S
            with contextlib.suppress(Exception):  # it logged what it found
                watch()
        if not stopping.is_set() and not all(thread.is_alive() for thread in threads):
            # A loop returns only when asked to: this one died of an error
            # nothing caught (its traceback is above). Exit non-zero so the
            # supervisor starts the process again; a relay process whose
            # relay thread had died stayed up, publishing nothing.
            log.error("a loop died; stopping the others and exiting")
            died = True
            stop_all()
    app.close()
    if died:
        raise SystemExit(1)


@main.command(epilog=command_epilog("worker"))
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Consumer threads (each a member of the consumer group).",
)
@_METRICS_PORT
@_METRICS_HOST
def worker(threads: int, metrics_port: int | None, metrics_host: str) -> None:
    """Consume the orders topic and process orders (run several for scale)."""
    app = bootstrap()
    if app.settings.broker_kind == "memory":
        raise click.UsageError("a separate worker needs ORDERFLOW_BROKER_URL=kafka://...")
    _require_current_schema(app)
    app.ensure_topics()
    workers = [app.new_worker() for _ in range(threads)]
    partitions = PartitionReadiness(lambda: workers, grace_s=app.settings.worker_assignment_grace_s)
    checks = {"database": app.uow_factory.ping, "partitions": partitions.check}
    _serve_metrics(app, metrics_port, metrics_host, checks)
    _run_loops(workers, app, watch=partitions.check)


@main.command(epilog=command_epilog("relay"))
@_METRICS_PORT
@_METRICS_HOST
def relay(metrics_port: int | None, metrics_host: str) -> None:
    """Publish the outbox, send notifications, re-drive stuck orders, purge old rows."""
    app = bootstrap()
    if app.settings.broker_kind == "memory":
        raise click.UsageError("a separate relay needs ORDERFLOW_BROKER_URL=kafka://...")
    _require_current_schema(app)
    app.ensure_topics()
    checks = {"database": app.uow_factory.ping, "broker": app.publisher.ping}
    _serve_metrics(app, metrics_port, metrics_host, checks)
    _run_loops([app.new_relay_loop(), app.new_notification_loop()], app)


@main.command(name="migrate", epilog=command_epilog("migrate"))
def migrate_command() -> None:
    """Create or upgrade the schema and indexes of the configured database."""
    app = bootstrap()
    _ensure_sqlite_dir(app.settings)
    try:
        click.echo(app.migrate())
    finally:
        app.close()


@main.command(epilog=command_epilog("seed"))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def seed(file: Path) -> None:
    """Load products from FILE: a JSON list of objects, or a CSV with a header row.

    \b
    Fields (JSON keys or CSV columns), one product per object or row:
      id           letters, digits, '.', '_' and '-', at most 64; an existing id is updated
      name         at most 200 characters
      description  optional, at most 2,000 characters
      price        a decimal with at most 2 places, e.g. 999.00 (never a float)
      stock        a whole number, 0 or more

    The file is checked whole before anything is written: a bad row names its
    number and field, and nothing is loaded. Examples: examples/catalog.json
    and examples/catalog.csv in the repository."""
    try:
        products = read_catalog(file)
    except CatalogFileError as exc:
        raise click.ClickException(str(exc)) from exc
    app = bootstrap()
    try:
        app.catalog.upsert_many(products)
    finally:
        app.close()
    click.echo(f"seeded {len(products)} products")


@main.group(epilog=command_epilog("keys"))
def keys() -> None:
    """Create, list and revoke API keys (docs/SECURITY.md)."""


def _key_admin() -> Orderflow:
    app = bootstrap()
    if app.settings.database_kind == "memory":
        app.close()
        raise click.UsageError(
            "the memory database lives inside one process: "
            "set ORDERFLOW_DATABASE_URL to the database the API uses"
        )
    _ensure_sqlite_dir(app.settings)
    return app


@keys.command(name="create", epilog=command_epilog("keys"))
@click.option("--name", required=True, help="A unique name, e.g. the service that uses it.")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in Role]),
    help="shop: places orders and reads those it placed; ops: reads every order.",
)
def keys_create(name: str, role: str) -> None:
    """Create an API key; its secret is printed once, alone on the last line."""
    app = _key_admin()
    try:
        issued = app.api_keys.create(name=name, role=Role(role))
    except InvalidInput as exc:
        raise click.ClickException(exc.message) from None
    finally:
        app.close()
    key = issued.key
    click.echo(f"created API key {key.name!r} (id {key.id}, role {key.role.value})")
    click.echo("the secret is shown only now; send it as Authorization: Bearer <secret>")
    click.echo(issued.secret)


@keys.command(name="list", epilog=command_epilog("keys"))
def keys_list() -> None:
    """Every API key: id, name, role, created, revoked (never a secret)."""
    app = _key_admin()
    try:
        listed = app.api_keys.list_keys()
    finally:
        app.close()
    if not listed:
        click.echo("no API keys")
        return
    for key in listed:
        revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
        click.echo(
            f"{key.id}  {key.name}  {key.role.value}  "
            f"created {key.created_at.isoformat()}  revoked {revoked}"
        )


@keys.command(name="revoke", epilog=command_epilog("keys"))
@click.argument("name_or_id")
def keys_revoke(name_or_id: str) -> None:
    """Revoke the key with this name or id: it is refused (401) from then on."""
    app = _key_admin()
    try:
        key = app.api_keys.revoke(name_or_id)
    finally:
        app.close()
    if key is None:
        raise click.ClickException(f"no API key has the name or id {name_or_id!r}")
    click.echo(f"revoked API key {key.name!r} (id {key.id})")


@main.group(epilog=command_epilog("dlq"))
def dlq() -> None:
    """Inspect, replay and purge the dead-letter topic (docs/OPERATIONS.md)."""


def _dead_letters() -> tuple[Orderflow, DeadLetterQueue]:
    app = bootstrap()
    if app.settings.broker_kind == "memory":
        app.close()
        raise click.UsageError(
            "the in-process broker lives inside `orderflow serve`: "
            "set ORDERFLOW_BROKER_URL=kafka://... to reach a dead-letter topic"
        )
    queue = DeadLetterQueue(
        app.topic_store,
        topics=app.topics,
        group=dlq_group(app.settings.consumer_group),
    )
    return app, queue


def _positions(values: Sequence[str]) -> list[tuple[int, int]]:
    try:
        return [position(value) for value in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@dlq.command(name="list", epilog=command_epilog("dlq"))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(as_json: bool) -> None:
    """Show the dead letters not purged yet: position, key, attempts, time, error."""
    app, queue = _dead_letters()
    try:
        entries = queue.entries()
    finally:
        app.close()
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry.to_json()))
    elif entries:
        click.echo(table(entries))
    else:
        click.echo("the dead-letter topic is empty")


@dlq.command(name="replay", epilog=command_epilog("dlq"))
@click.option("--all", "everything", is_flag=True, help="Every listed dead letter.")
@click.option("--offset", "offsets", multiple=True, metavar="PARTITION:OFFSET")
@click.option("--key", "keys", multiple=True, help="Dead letters of this order id.")
def dlq_replay(everything: bool, offsets: Sequence[str], keys: Sequence[str]) -> None:
    """Publish the original messages again to the orders topic (idempotent)."""
    if not (everything or offsets or keys):
        raise click.UsageError("name what to replay: --all, --offset P:O or --key K")
    wanted = _positions(offsets)
    app, queue = _dead_letters()
    try:
        entries = queue.entries()
        chosen = entries if everything else queue.select(entries, positions=wanted, keys=keys)
        count = queue.replay(chosen)
    finally:
        app.close()
    click.echo(f"replayed {count} dead letters to {app.topics.orders}")


@dlq.command(name="purge", epilog=command_epilog("dlq"))
@click.option("--all", "everything", is_flag=True, help="Every listed dead letter.")
@click.option(
    "--through",
    "through",
    multiple=True,
    metavar="PARTITION:OFFSET",
    help="That partition's dead letters up to and including OFFSET.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(everything: bool, through: Sequence[str], yes: bool) -> None:
    """Drop dead letters from the list (moves the DLQ group's offsets)."""
    if everything == bool(through):
        raise click.UsageError("give either --all or --through P:O")
    limits = dict(_positions(through))
    app, queue = _dead_letters()
    try:
        entries = queue.entries()
        if everything:
            limits = {}
            for entry in entries:
                limits[entry.partition] = max(limits.get(entry.partition, -1), entry.offset)
        doomed = [e for e in entries if e.offset <= limits.get(e.partition, -1)]
        if not doomed:
            click.echo(
                "the dead-letter topic is empty: nothing to purge"
                if not entries
                else "no dead letters up to those positions: nothing to purge"
            )
            return
        if not yes:
            click.confirm(f"purge {len(doomed)} dead letters?", abort=True)
        # Only what was counted and confirmed: letters arriving meanwhile stay.
        count = queue.purge(limits)
    finally:
        app.close()
    click.echo(f"purged {count} dead letters")


if __name__ == "__main__":
    sys.exit(main())
