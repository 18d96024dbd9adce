"""Readiness: every dependency's check, each in its own thread with a deadline,
so one hung dependency cannot hang the request.

A thread that overruns its deadline cannot be killed; it is left to finish as
a daemon. While it is still running, later probes report that dependency as
failed at once instead of starting another thread, so a dependency that
hangs for minutes costs one thread, not one per probe."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

Check = Callable[[], None]


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    seconds: float
    error: str | None = None  # the exception's type name; the message goes to the log

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "seconds": round(self.seconds, 6), "error": self.error}


class _Attempt:
    def __init__(self, name: str, call: Callable[[], object]) -> None:
        self.name = name
        self.result: object = None
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self.finished: float | None = None
        self.thread = threading.Thread(
            target=self._run, args=(call,), name=f"ready-{name}", daemon=True
        )

    def _run(self, call: Callable[[], object]) -> None:
        try:
            self.result = call()
        except BaseException as exc:  # reported, never raised in a daemon thread
            self.error = exc
        finally:
            self.finished = time.perf_counter()


class ReadinessProbe:
    """`checks` is called each probe (it may build adapters, so it too runs
    under a deadline) and returns name -> a call that raises if unhealthy."""

    def __init__(
        self, checks: Callable[[], Mapping[str, Check]], *, timeout_s: Callable[[], float]
    ) -> None:
        self._checks = checks
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._running: dict[str, _Attempt] = {}

    def run(self) -> dict[str, CheckResult]:
        timeout = self._timeout_s()
        listing = self._start("__checks__", self._checks)
        if listing is None:
            return {"checks": CheckResult(False, 0.0, "previous probe still running")}
        listing.thread.join(timeout)
        if listing.finished is None or listing.error is not None:
            return {"checks": self._failure(listing, timeout)}
        checks = listing.result
        assert isinstance(checks, Mapping)

        attempts: dict[str, _Attempt | None] = {
            name: self._start(name, check) for name, check in checks.items()
        }
        deadline = time.perf_counter() + timeout
        results: dict[str, CheckResult] = {}
        for name, attempt in attempts.items():
            if attempt is None:
                results[name] = CheckResult(False, 0.0, "previous check still running")
                continue
            attempt.thread.join(max(0.0, deadline - time.perf_counter()))
            if attempt.finished is None or attempt.error is not None:
                results[name] = self._failure(attempt, timeout)
            else:
                results[name] = CheckResult(True, attempt.finished - attempt.started)
        return results

    def _start(self, name: str, call: Callable[[], object]) -> _Attempt | None:
        with self._lock:
            previous = self._running.get(name)
            if previous is not None and previous.thread.is_alive():
                return None
            attempt = _Attempt(name, call)
            self._running[name] = attempt
        attempt.thread.start()
        return attempt

    @staticmethod
    def _failure(attempt: _Attempt, timeout: float) -> CheckResult:
        if attempt.finished is None:
            log.warning("readiness check %s timed out after %.1f s", attempt.name, timeout)
            return CheckResult(False, timeout, f"timed out after {timeout:g} s")
        log.warning("readiness check %s failed: %r", attempt.name, attempt.error)
        return CheckResult(False, attempt.finished - attempt.started, type(attempt.error).__name__)
