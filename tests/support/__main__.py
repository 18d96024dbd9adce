"""`python -m tests.support [start|stop] [--only ...] [--detach]`, what
scripts/services.sh runs: start the integration-test services and print the
environment variables that point the tests (tests/integration/conftest.py) at
them."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.processes import Service, ServiceError
from tests.support.services import (
    REPO_ROOT,
    drop_scratch_database,
    ensure_mariadb,
    ensure_postgres,
    ensure_redis,
    release_redis_url,
    start_kafka,
    start_mongo,
)

STARTERS: dict[str, tuple[str, Callable[..., Service]]] = {
    "kafka": ("ORDERFLOW_TEST_KAFKA_URL", start_kafka),
    "mongo": ("ORDERFLOW_TEST_MONGO_URL", start_mongo),
    "mysql": ("ORDERFLOW_TEST_MYSQL_URL", ensure_mariadb),
    "postgres": ("ORDERFLOW_TEST_POSTGRES_URL", ensure_postgres),
    "redis": ("ORDERFLOW_TEST_REDIS_URL", ensure_redis),
}
STATE_FILE = REPO_ROOT / "var" / "services.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="services",
        description="Start the integration-test services and print the variables to export.",
    )
    parser.add_argument("action", nargs="?", choices=("start", "stop"), default="start")
    parser.add_argument(
        "--only", default=",".join(STARTERS), help="comma-separated subset of: %(default)s"
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help=f"leave them running and return (stop them with `stop`; state in {STATE_FILE})",
    )
    args = parser.parse_args(argv)
    if args.action == "stop":
        return _stop_detached()

    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(STARTERS))
    if unknown:
        parser.error(f"unknown services: {', '.join(unknown)}")
    if args.detach and STATE_FILE.exists():
        parser.error(f"{STATE_FILE} exists: run `stop` first")

    started: list[Service] = []
    try:
        for name in names:
            variable, start = STARTERS[name]
            kwargs = {"die_with_parent": False} if name in ("kafka", "mongo") else {}
            service = start(**kwargs)
            started.append(service)
            print(f"export {variable}={service.url}", flush=True)
    except ServiceError as exc:
        print(f"services: {exc}", file=sys.stderr)
        for service in reversed(started):
            service.stop()
        return 1

    if args.detach:
        _save_state(started)
        print("# running; stop with: scripts/services.sh stop", flush=True)
        return 0
    print("# running; Ctrl-C stops them", flush=True)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    for signum in stop_signals:
        # A shell starts `&` jobs with SIGINT ignored, and an ignored signal
        # never reaches sigwait.
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        signal.sigwait(stop_signals)
    finally:
        for service in reversed(started):
            service.stop()
    return 0


def _save_state(services: Sequence[Service]) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    state = [
        {
            "name": s.name,
            "url": s.url,
            "pid": s.process.pid if s.process else None,
            "signal": int(s.stop_signal),
            "log": str(s.log_path) if s.log_path else None,
        }
        for s in services
    ]
    STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def _stop_detached() -> int:
    if not STATE_FILE.exists():
        print(f"services: nothing to stop ({STATE_FILE} does not exist)", file=sys.stderr)
        return 0
    for entry in json.loads(STATE_FILE.read_text()):
        pid = entry.get("pid")
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, entry.get("signal", signal.SIGTERM))
        elif entry["name"] in ("mysql", "postgresql", "redis"):
            _drop_by_url(entry["name"], entry["url"])
        if entry.get("log"):
            shutil.rmtree(Path(entry["log"]).parent, ignore_errors=True)
        print(f"stopped {entry['name']} ({entry['url']})")
    STATE_FILE.unlink()
    return 0


def _drop_by_url(name: str, url: str) -> None:
    if name == "redis":
        release_redis_url(url)
    else:
        drop_scratch_database(url)


if __name__ == "__main__":
    sys.exit(main())
