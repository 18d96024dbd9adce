"""The step thread of a transactional producer: kafka-python's unbounded
waits run there while the caller waits with a deadline."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from kafka.errors import KafkaTimeoutError, ProducerFencedError

from orderflow.adapters.kafka.step_thread import StepThread


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """What a stuck step waits for; set at the end so no thread outlives the test."""
    event = threading.Event()
    yield event
    event.set()


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_a_step_runs_on_the_step_thread_and_the_caller_gets_its_outcome() -> None:
    steps = StepThread("steps-outcome")
    ran_on: list[str] = []
    steps.run(lambda: ran_on.append(threading.current_thread().name), timeout_s=5, what="x")
    steps.stop()
    assert ran_on == ["steps-outcome"]
    assert not steps.busy


def test_the_kafka_error_a_step_raises_is_raised_in_the_caller() -> None:
    steps = StepThread("steps-error")
    fenced = ProducerFencedError("another producer has this transactional id")

    def commit() -> None:
        raise fenced

    with pytest.raises(ProducerFencedError) as raised:
        steps.run(commit, timeout_s=5, what="the commit")
    steps.run(lambda: None, timeout_s=5, what="the next step")  # the thread goes on
    steps.stop()
    assert raised.value is fenced


def test_a_step_past_its_deadline_raises_a_timeout_in_about_that_time(
    released: threading.Event,
) -> None:
    steps = StepThread("steps-deadline")
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError, match=r"the commit took longer than 0\.3 s"):
        steps.run(released.wait, timeout_s=0.3, what="the commit")
    took = time.monotonic() - started
    assert 0.3 <= took < 1.0
    assert steps.busy, "the step is still waiting on its thread"
    steps.stop()


def test_a_stuck_step_holds_back_neither_the_caller_nor_the_next_producers_steps(
    released: threading.Event,
) -> None:
    stuck = StepThread("steps-stuck")
    with pytest.raises(KafkaTimeoutError):
        stuck.run(released.wait, timeout_s=0.1, what="the commit")
    stuck.stop()

    fresh = StepThread("steps-fresh")
    started = time.monotonic()
    fresh.run(lambda: None, timeout_s=5, what="the next commit")
    fresh.stop()
    assert time.monotonic() - started < 0.5
    assert [t.daemon for t in threads_named("steps-stuck")] == [True]


def test_a_stopped_step_thread_ends_once_its_stuck_step_returns(
    released: threading.Event,
) -> None:
    name = f"steps-{uuid.uuid4().hex[:8]}"
    steps = StepThread(name)
    with pytest.raises(KafkaTimeoutError):
        steps.run(released.wait, timeout_s=0.1, what="the commit")
    steps.stop()
    [thread] = threads_named(name)

    released.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert not steps.busy


def test_a_step_stuck_for_ever_does_not_keep_the_interpreter_from_exiting() -> None:
    program = (
        "import threading\n"
        "from kafka.errors import KafkaTimeoutError\n"
        "from orderflow.adapters.kafka.step_thread import StepThread\n"
        "steps = StepThread('stuck')\n"
        "try:\n"
        "    steps.run(threading.Event().wait, timeout_s=0.1, what='the commit')\n"
        "except KafkaTimeoutError:\n"
        "    print('timed out')\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timed out"
    assert time.monotonic() - started < 10
