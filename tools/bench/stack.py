"""The system under test, as the production stack test runs it: MariaDB,
Kafka (Tansu) and Redis from tests.support.services, then `orderflow api`
(granian), `orderflow relay` and `orderflow worker` as OS processes, and the
baselines' gunicorn servers, each logging into the run's work directory."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import services
from tests.support.processes import (
    LOCALHOST,
    exit_with_parent,
    free_port,
)
from tests.support.stack import UNTHROTTLED_ENV
from tools.bench.errors import BenchError

BIN = Path(sys.executable).parent


@dataclass
class Services:
    database_url: str
    broker_url: str
    cache_url: str


@contextlib.contextmanager
def running_services() -> Iterator[Services]:
    """A fresh broker, a scratch MariaDB database and a claimed Redis db,
    dropped again at the end."""
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(services.start_kafka())
        mariadb = stack.enter_context(services.ensure_mariadb())
        redis_ = stack.enter_context(services.ensure_redis())
        yield Services(database_url=mariadb.url, broker_url=kafka.url, cache_url=redis_.url)


def orderflow_env(svc: Services, **extra: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "ORDERFLOW_DATABASE_URL": svc.database_url,
        "ORDERFLOW_BROKER_URL": svc.broker_url,
        "ORDERFLOW_CACHE_URL": svc.cache_url,
        "ORDERFLOW_ORDERS_TOPIC": f"orders-{suffix}",
        "ORDERFLOW_EVENTS_TOPIC": f"order-events-{suffix}",
        "ORDERFLOW_DLQ_TOPIC": f"orders-{suffix}.DLQ",
        "ORDERFLOW_CONSUMER_GROUP": f"workers-{suffix}",
        "ORDERFLOW_PARTITIONS": "6",
        "ORDERFLOW_NOTIFY_URL": "log://",
        # Shared by every API process, as production requires.
        "ORDERFLOW_ID_SECRET": secrets.token_hex(32),
        # The sweeper must not re-drive the backlog while the bench builds it.
        "ORDERFLOW_STUCK_AFTER_S": "86400",
        # The load comes from one address and one key: never throttle it.
        **UNTHROTTLED_ENV,
        **extra,
    }


@dataclass
class Processes:
    """Every process the bench started, stopped in reverse order at the end."""

    workdir: Path
    env: dict[str, str]
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [str(BIN / "orderflow"), *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(f"orderflow {' '.join(args)} failed: {result.stderr[-3000:]}")
        return result.stdout

    def spawn(
        self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            list(argv),
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=exit_with_parent,
        )
        log.close()
        self.running.append((name, process))
        return process

    def spawn_orderflow(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return self.spawn(name, [str(BIN / "orderflow"), *args], env=env)

    def serve(self, env: dict[str, str], *, threads: int) -> str:
        """`orderflow serve` (the embedded mode) with `env`; its base URL once ready."""
        port = free_port()
        process = self.spawn_orderflow(
            "serve",
            "serve",
            "--host",
            LOCALHOST,
            "--port",
            str(port),
            "--threads",
            str(threads),
            env=env,
        )
        base = f"http://{LOCALHOST}:{port}"
        self._wait_ready("serve", process, f"{base}/ready")
        return base

    def api(self, *, workers: int, threads: int = 8) -> str:
        port = free_port()
        process = self.spawn_orderflow(
            "api",
            "api",
            "--host",
            LOCALHOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        )
        base = f"http://{LOCALHOST}:{port}"
        self._wait_ready("api", process, f"{base}/ready")
        return base

    def gunicorn(self, name: str, app: str, *, workers: int, env: dict[str, str]) -> str:
        """A baseline app (`module:factory()`) under gunicorn's sync workers."""
        port = free_port()
        process = self.spawn(
            name,
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                f"{LOCALHOST}:{port}",
                "--log-level",
                "warning",
                # The baseline apps are tools.bench.*: importable from the repository root.
                "--chdir",
                str(services.REPO_ROOT),
                app,
            ],
            env={**self.env, **env},
        )
        base = f"http://{LOCALHOST}:{port}"
        # The master listens before its workers have imported the app: wait
        # for an answer (any status) so that no measurement starts early.
        self._wait_ready(name, process, f"{base}/", any_status=True)
        return base

    def stop(self, process: subprocess.Popen[bytes], *, timeout_s: float = 20) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        for _, process in reversed(list(self.running)):
            self.stop(process)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(
        self,
        name: str,
        process: subprocess.Popen[bytes],
        url: str,
        *,
        timeout_s: float = 90,
        any_status: bool = False,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"{name} exited ({process.returncode}):\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError:
                if any_status:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{name} was not ready in {timeout_s:.0f} s:\n{self.log_tail(name)}")
