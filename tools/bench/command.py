"""The bench's command line (`python -m tools.bench`, `make bench`)."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import click


@click.command()
@click.option(
    "--quick",
    is_flag=True,
    help="A short run (under 2 minutes): a 6,000-order backlog and 4 s measurements.",
)
@click.option(
    "--scale",
    type=click.Choice(["full", "quick", "tiny"]),
    default=None,
    help="Run size (default full; tiny is the CI smoke's).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the figures as a JSON list to FILE.",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Worker processes in the processing and end-to-end phases.",
)
@click.option(
    "--api-processes",
    default=lambda: os.cpu_count() or 1,
    show_default="one per core",
    type=click.IntRange(1, 64),
    help="`orderflow api --workers`.",
)
@click.option(
    "--api-threads",
    default=8,
    show_default=True,
    type=click.IntRange(2, 256),
    help="`orderflow api --threads`: request threads per API process.",
)
@click.option("--keep-logs", is_flag=True, help="Keep the processes' logs after a good run.")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(
        [
            "intake",
            "processing",
            "intake_loaded",
            "read_cached",
            "search",
            "e2e",
            "sqlite_contention",
        ]
    ),
    help=(
        "Run only this phase (repeatable); read_cached brings processing along, "
        "intake_loaded brings intake."
    ),
)
def bench(
    quick: bool,
    scale: str | None,
    json_path: Path | None,
    workers: int,
    api_processes: int,
    api_threads: int,
    keep_logs: bool,
    only: tuple[str, ...],
) -> None:
    """Benchmark the stack (MariaDB, Kafka, Redis) against baselines measured
    in the same run; prints a markdown table (see docs/PERFORMANCE.md)."""
    from tools.bench.cpu import cpu_table
    from tools.bench.errors import BenchError
    from tools.bench.figures import markdown_table, write_json
    from tools.bench.runner import SCALES, Options, run

    # kafka-python's warnings about its own event loop are noise in a report.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    chosen = scale or ("quick" if quick else "full")
    options = replace(
        Options(scale=SCALES[chosen]),
        worker_processes=workers,
        api_processes=api_processes,
        api_threads=api_threads,
        keep_logs=keep_logs,
        only=frozenset(only),
    )
    try:
        started = time.monotonic()
        report = run(
            options,
            say=lambda line: click.echo(f"[{time.monotonic() - started:5.1f} s] {line}", err=True),
        )
    except BenchError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(markdown_table(report.figures))
    click.echo()
    click.echo(cpu_table(report.cpu))
    if json_path is not None:
        write_json(report.figures, json_path)
        cpu_path = json_path.with_suffix(".cpu.json")
        cpu_path.write_text(json.dumps(report.cpu, indent=2) + "\n")
        click.echo(f"wrote {json_path} and {cpu_path}", err=True)
