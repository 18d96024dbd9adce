"""The production arrangement as OS processes, for end-to-end and fault tests:
`orderflow api` (granian), `orderflow relay` and `orderflow worker`s, each in
its own process with its own log, configured by ORDERFLOW_* variables.

    stack = Stack(stack_env(database_url=..., broker_url=..., cache_url=...), workdir)
    stack.run("migrate"); stack.run("seed", "catalog.json")
    stack.spawn("api", "api", "--port", str(stack.port), "--workers", "1")
    stack.spawn("worker-1", "worker")
    stack.wait_ready()
    stack.kill("worker-1")          # SIGKILL: no clean shutdown, no commit
    stack.restart("worker-1")
    stack.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import free_port

ORDERFLOW = str(Path(sys.executable).with_name("orderflow"))


def http_call(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> tuple[int, dict[str, Any]]:
    """One JSON request; (status, decoded body) for any status, 4xx/5xx included."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


# Bulk callers (the fault rig, the bench, the browser tests) send far more
# than a client may, from one address and one key, and notify one address
# per order: budgets that never throttle what they measure. The limits
# themselves are tested in tests/unit/http/test_http_rate_limits.py and
# tests/integration/test_rate_limits_redis.py.
UNTHROTTLED_ENV = {
    "ORDERFLOW_RATE_LIMIT": "1000000/second",
    "ORDERFLOW_RATE_LIMIT_KEY": "1000000/second",
    "ORDERFLOW_RATE_LIMIT_ORDERS": "1000000/second",
    "ORDERFLOW_NOTIFY_RATE_LIMIT": "1000000/second",
}


def stack_env(
    *,
    database_url: str,
    broker_url: str,
    cache_url: str,
    notify_url: str = "log://",
    partitions: int = 4,
    **extra: str,
) -> dict[str, str]:
    """The environment of every process of one stack: its own topics and
    consumer group (a random suffix), so stacks sharing a broker never mix."""
    suffix = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "ORDERFLOW_DATABASE_URL": database_url,
        "ORDERFLOW_BROKER_URL": broker_url,
        "ORDERFLOW_CACHE_URL": cache_url,
        "ORDERFLOW_NOTIFY_URL": notify_url,
        "ORDERFLOW_ORDERS_TOPIC": f"orders-{suffix}",
        "ORDERFLOW_EVENTS_TOPIC": f"order-events-{suffix}",
        "ORDERFLOW_DLQ_TOPIC": f"orders-{suffix}.DLQ",
        "ORDERFLOW_CONSUMER_GROUP": f"workers-{suffix}",
        "ORDERFLOW_PARTITIONS": str(partitions),
        # Shared by every process of the stack, as production requires.
        "ORDERFLOW_ID_SECRET": secrets.token_hex(32),
        **UNTHROTTLED_ENV,
        **extra,
    }


@dataclass
class StackProcess:
    name: str
    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    starts: int = 1
    log_offset: int = 0  # where this start's output begins in <name>.log


class Stack:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, StackProcess] = {}

    def create_key(self, role: str, name: str | None = None) -> str:
        """A new API key through `orderflow keys create`; its secret."""
        name = name or f"{role}-{uuid.uuid4().hex[:8]}"
        output = self.run("keys", "create", "--name", name, "--role", role)
        return output.strip().splitlines()[-1]

    def run(self, *args: str, timeout_s: float = 120) -> str:
        """Run an `orderflow` command to completion; its output. Raises
        CalledProcessError (with the output) if it fails."""
        result = subprocess.run(
            [ORDERFLOW, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, result.args, result.stdout, result.stderr
            )
        return result.stdout

    def spawn(self, name: str, *args: str, stdout_apart: bool = False) -> None:
        """Start `orderflow <args>` in the background as `name` (log:
        <workdir>/<name>.log). With `stdout_apart`, its standard output goes
        to <workdir>/<name>.out instead, unmixed with the log lines (for
        what a process prints there, such as the console span exporter's
        spans)."""
        if name in self.processes and self.processes[name].process.poll() is None:
            raise RuntimeError(f"{name} is already running")
        previous = self.processes.get(name)
        with (
            (self.workdir / f"{name}.log").open("ab") as log,
            (self.workdir / f"{name}.out").open("ab")
            if stdout_apart
            else contextlib.nullcontext(log) as out,
        ):
            offset = log.tell()
            process = subprocess.Popen(
                [ORDERFLOW, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log if stdout_apart else subprocess.STDOUT,
                # No PR_SET_PDEATHSIG here: it fires when the *thread* that
                # started the child ends, and fault tests restart processes
                # from helper threads.
            )
        self.processes[name] = StackProcess(
            name,
            tuple(args),
            process,
            starts=1 + (previous.starts if previous else 0),
            log_offset=offset,
        )

    def pid(self, name: str) -> int:
        return self.processes[name].process.pid

    def alive(self, name: str) -> bool:
        return self.processes[name].process.poll() is None

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` (SIGKILL by default) and, for SIGKILL, wait until it is gone."""
        process = self.processes[name].process
        process.send_signal(sig)
        if sig == signal.SIGKILL:
            process.wait(10)

    def terminate(self, name: str, timeout_s: float = 20) -> None:
        """SIGTERM (a clean stop: finish the batch, commit, leave the group)."""
        process = self.processes[name].process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def restart(self, name: str) -> None:
        """Start `name` again with the arguments it had (it must have exited)."""
        self.spawn(name, *self.processes[name].args)

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if http_call("GET", f"{self.base}/ready", timeout_s=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the API was not ready in {timeout_s} s:\n{self.logs()}")

    def log_of_this_start(self, name: str) -> str:
        """What `name` has written since it was last started."""
        with (self.workdir / f"{name}.log").open("rb") as log:
            log.seek(self.processes[name].log_offset)
            return log.read().decode(errors="replace")

    def logs(self, tail_chars: int = 3000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail_chars:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )

    def stop(self) -> None:
        for entry in self.processes.values():
            if entry.process.poll() is None:
                entry.process.terminate()
        for entry in self.processes.values():
            try:
                entry.process.wait(20)
            except subprocess.TimeoutExpired:
                entry.process.kill()
                entry.process.wait(10)
