"""The loops of one process (`orderflow relay`: relay and notifications;
`orderflow worker --threads N`): a loop that dies of an error nothing caught
takes the process down (exit 1) so that its supervisor starts it again,
instead of the process living on without it, as a relay process once did
after its relay thread died in a database outage (docs/RELIABILITY.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.entrypoints import cli


class Dying:
    def run(self) -> None:
        raise RuntimeError("a bug nothing catches")

    def stop(self) -> None:
        pass


class Waiting:
    """Runs until stopped (or 5 s, so that a failure is quick to show)."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def run(self) -> None:
        self.stopped.wait(5)

    def stop(self) -> None:
        self.stopped.set()


@pytest.fixture
def app() -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url="memory://")
    yield instance
    instance.close()


@pytest.fixture
def signal_stop(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """What SIGTERM would call, without touching the test process's handlers."""
    handlers: list[Callable[[], None]] = []
    monkeypatch.setattr(cli, "_on_sigterm", handlers.append)
    return handlers


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_loop_that_dies_stops_the_others_and_the_process_exits_non_zero(
    app: Orderflow, signal_stop: list[Callable[[], None]]
) -> None:
    survivor = Waiting()
    with pytest.raises(SystemExit) as exited:
        cli._run_loops([Dying(), survivor], app)
    assert exited.value.code == 1
    assert survivor.stopped.is_set()


def test_loops_asked_to_stop_end_the_process_cleanly(
    app: Orderflow, signal_stop: list[Callable[[], None]]
) -> None:
    loops = [Waiting(), Waiting()]
    threading.Timer(0.3, lambda: signal_stop[0]()).start()
    cli._run_loops(loops, app)  # returns: no SystemExit
    assert all(loop.stopped.is_set() for loop in loops)
