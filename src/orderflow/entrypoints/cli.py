"""The `orderflow` command. Every command reads the ORDERFLOW_* configuration."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import click

from orderflow.bootstrap import Orderflow, bootstrap
from orderflow.config import Settings
from orderflow.entrypoints.catalog_files import CatalogFileError, demo_catalog, read_catalog
from orderflow.entrypoints.runtime import (
    BackgroundRuntime,
    Loop,
    build_relay_loop,
    build_worker,
)
from orderflow.entrypoints.schema import migrate

log = logging.getLogger("orderflow")

DEFAULT_PORT = 4000


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


def _ensure_topics(settings: Settings) -> None:
    if settings.broker_kind == "kafka":
        from orderflow.adapters.kafka.admin import ensure_topics

        ensure_topics(
            settings.broker_url,
            [settings.orders_topic, settings.events_topic, settings.dlq_topic],
            partitions=settings.partitions,
        )


def prepare(app: Orderflow, *, demo: bool) -> None:
    """Schema up to date, topics created, demo catalog loaded on first start."""
    _ensure_sqlite_dir(app.settings)
    click.echo(migrate(app.settings))
    _ensure_topics(app.settings)
    if demo and app.catalog.count() == 0:
        products = demo_catalog()
        app.catalog.upsert_many(products)
        click.echo(f"loaded the demo catalog ({len(products)} products)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default=lambda: os.environ.get("ORDERFLOW_LOG_LEVEL", "INFO"),
    show_default="INFO",
    help="Logging level.",
)
def main(log_level: str) -> None:
    """orderflow: e-commerce order processing (see README.md)."""
    _configure_logging(log_level)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker threads consuming the order queue.",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="HTTP server threads.",
)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Embedded mode: API, relay and workers in one process (demo catalog loaded)."""
    import waitress

    from orderflow.entrypoints.http.app import create_app

    app = bootstrap()
    prepare(app, demo=True)
    runtime = BackgroundRuntime(app, workers=workers)
    runtime.start(redrive_unfinished=app.settings.broker_kind == "memory")
    click.echo(f"orderflow serving on http://{host}:{port} ({app.settings.database_url})")
    try:
        waitress.serve(
            create_app(app), host=host, port=port, threads=threads, ident="orderflow", _quiet=True
        )
    finally:
        runtime.stop()
        app.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--workers",
    default=lambda: os.cpu_count() or 1,
    type=click.IntRange(1, 256),
    show_default="one per core",
    help="Server processes.",
)
def api(host: str, port: int, workers: int) -> None:
    """The HTTP API under a production WSGI server (granian); no background work."""
    from granian import Granian

    app = bootstrap()
    if app.settings.broker_kind == "memory":
        raise click.UsageError(
            "`orderflow api` runs without workers: set ORDERFLOW_BROKER_URL to kafka://... "
            "or use `orderflow serve` for the embedded mode"
        )
    prepare(app, demo=False)
    app.close()
    Granian(
        "orderflow.entrypoints.http.wsgi:create_wsgi_app",
        factory=True,
        address=host,
        port=port,
        interface="wsgi",  # type: ignore[arg-type]
        workers=workers,
        blocking_threads=8,
        log_access=False,
    ).serve()


def _run_loops(loops: Sequence[Loop], app: Orderflow) -> None:
    def stop_all() -> None:
        for loop in loops:
            loop.stop()

    _on_sigterm(stop_all)
    threads = [threading.Thread(target=loop.run, name=f"loop-{i}") for i, loop in enumerate(loops)]
    for thread in threads:
        thread.start()
    # Join with a timeout so the main thread stays responsive to signals.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(0.2)
    app.close()


@main.command()
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Consumer threads (each a member of the consumer group).",
)
def worker(threads: int) -> None:
    """Consume the orders topic and process orders (run several for scale)."""
    app = bootstrap()
    if app.settings.broker_kind == "memory":
        raise click.UsageError("a separate worker needs ORDERFLOW_BROKER_URL=kafka://...")
    _ensure_topics(app.settings)
    _run_loops([build_worker(app) for _ in range(threads)], app)


@main.command()
def relay() -> None:
    """Publish the outbox to the broker, re-drive stuck orders, purge old rows."""
    app = bootstrap()
    if app.settings.broker_kind == "memory":
        raise click.UsageError("a separate relay needs ORDERFLOW_BROKER_URL=kafka://...")
    _ensure_topics(app.settings)
    _run_loops([build_relay_loop(app)], app)


@main.command(name="migrate")
def migrate_command() -> None:
    """Create or upgrade the schema and indexes of the configured database."""
    settings = Settings()
    _ensure_sqlite_dir(settings)
    click.echo(migrate(settings))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def seed(file: Path) -> None:
    """Load products from a JSON list or a CSV with a header (existing ids are updated)."""
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


if __name__ == "__main__":
    sys.exit(main())
