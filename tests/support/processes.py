"""Running a server process for a test: a free port, a log file, waiting until
it listens, and stopping it again."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

LOCALHOST = "127.0.0.1"


class ServiceError(RuntimeError):
    """A test service could not be started or prepared."""


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    cleanup: Callable[[], None] | None = field(default=None, repr=False)
    stop_signal: signal.Signals = signal.SIGTERM

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """End the process this service started and undo what it created. Safe
        to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        cleanup, self.cleanup = self.cleanup, None
        if cleanup is not None:
            cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def is_accepting(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until_accepting(
    name: str,
    host: str,
    port: int,
    *,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not is_accepting(host, port, timeout_s=0.2):
        if process is not None and process.poll() is not None:
            raise ServiceError(
                f"{name} exited with code {process.returncode} before listening on "
                f"{host}:{port}:\n{_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{name} did not listen on {host}:{port} within {timeout_s:.0f} s:\n"
                f"{_log_tail(log_path)}"
            )
        time.sleep(0.05)


def spawn_server(
    name: str,
    command: Sequence[str],
    *,
    host: str,
    port: int,
    url: str,
    timeout_s: float,
    die_with_parent: bool,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Service:
    """Start `command` (a server that will listen on host:port), its output in
    a log file, and return once it accepts connections; ServiceError with the
    log's last lines if it exits or does not listen within `timeout_s`."""
    if is_accepting(host, port):
        raise ServiceError(f"cannot start {name}: something already listens on {host}:{port}")
    log_dir = Path(tempfile.mkdtemp(prefix=f"orderflow-{name}-"))
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for pytest does not reach it
            # before pytest has had the chance to stop it in order.
            start_new_session=True,
            preexec_fn=exit_with_parent if die_with_parent else None,
        )
    service = Service(
        name,
        url,
        process=process,
        log_path=log_path,
        cleanup=lambda: shutil.rmtree(log_dir, ignore_errors=True),
        stop_signal=stop_signal,
    )
    try:
        wait_until_accepting(
            name, host, port, timeout_s=timeout_s, process=process, log_path=log_path
        )
    except BaseException:
        service.cleanup = None  # keep the log for the error message's reader
        service.stop()
        raise
    return service


def exit_with_parent() -> None:
    """In the child: receive SIGTERM when the parent dies, so a killed pytest
    leaves no broker behind (Linux only)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_command(command: list[str]) -> None:
    """Run a short command that starts a daemon; ServiceError if it fails."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{command[0]} failed: {exc}") from exc
    if result.returncode != 0:
        raise ServiceError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{tail(result.stdout + result.stderr)}"
        )


def retry_until(
    connect: Callable[[], Any], error: type[Exception], timeout_s: float, name: str
) -> Any:
    """connect(), retried while it raises `error` (a server that listens before
    it answers), for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return connect()
        except error as exc:
            if time.monotonic() > deadline:
                raise ServiceError(f"{name} refuses connections: {exc}") from exc
            time.sleep(0.25)


def _log_tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return tail(path.read_text(errors="replace"))


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
