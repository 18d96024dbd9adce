"""A thread that runs the waiting steps of one producer, so the caller can
wait for each with a deadline.

kafka-python's send_offsets_to_transaction, commit_transaction and
abort_transaction wait with no time limit. Called here instead, they wait on
this thread while the caller waits at most as long as it chooses; a step that
never returns holds this thread only, never the caller."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from kafka.errors import KafkaTimeoutError


class _Step:
    __slots__ = ("action", "done", "error")

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.action()
        except BaseException as exc:  # handed to the caller, which decides
            self.error = exc
        finally:
            self.done.set()


class StepThread:
    """One daemon thread, fed through a queue, running one step at a time.

    Daemon, because a step stuck in an unbounded wait must not keep the
    interpreter from exiting. One per producer: a producer dropped with a step
    still stuck keeps its own thread, and the next producer gets a new one."""

    def __init__(self, name: str) -> None:
        self._steps: queue.SimpleQueue[_Step | None] = queue.SimpleQueue()
        self._current: _Step | None = None
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, action: Callable[[], object], *, timeout_s: float, what: str) -> None:
        """Run `action` on the thread and wait at most `timeout_s` for it.
        Raises what the action raised, or KafkaTimeoutError: the step may then
        still be running, and may still succeed, on the thread (`busy`)."""
        step = _Step(action)
        self._current = step
        self._steps.put(step)
        if not step.done.wait(timeout_s):
            raise KafkaTimeoutError(f"{what} took longer than {timeout_s:g} s")
        if step.error is not None:
            raise step.error

    @property
    def busy(self) -> bool:
        """Whether the last step is still running (it timed out)."""
        return self._current is not None and not self._current.done.is_set()

    def stop(self) -> None:
        """Let the thread end once its current step, if any, returns."""
        self._steps.put(None)

    def _serve(self) -> None:
        while (step := self._steps.get()) is not None:
            step.run()
