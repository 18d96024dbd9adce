"""Group commit: intake's concurrent callers placed together.

A decorator of the Placement port, composed in the container around the
use case. Requests that arrive while a batch is being committed wait and go
in the next batch, placed with one `place_all` (one catalog read, one insert
per table, one commit) by the first of them to have arrived, whom the
previous batch's thread hands the turn to. Each caller still returns only
once its own order is committed, with its own outcome."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from orderflow.domain.commands import PlaceOrder
from orderflow.ports.placement import Outcome, Placement, PlacementResult


def _closed_gate() -> threading.Lock:
    gate = threading.Lock()
    gate.acquire()
    return gate


@dataclass(slots=True)
class _Slot:
    """One request waiting in a group commit."""

    command: PlaceOrder
    outcome: Outcome | None = None
    batch: list[_Slot] | None = None  # set when it is to lead: itself first, then the others
    # Released once, when the slot's batch is done or when it is to lead:
    # each waiter is woken by itself, never all of them to find out which.
    gate: threading.Lock = field(default_factory=_closed_gate)


class GroupCommit(Placement):
    def __init__(self, inner: Placement, *, batch_limit: int) -> None:
        self._inner = inner
        self._batch_limit = max(1, batch_limit)
        self._turn = threading.Lock()  # guards _waiting and _in_flight
        self._waiting: deque[_Slot] = deque()
        # One batch in flight per process: the requests that arrive while it
        # commits all go in the next, so batches are larger and an order
        # costs less CPU (docs/DECISIONS.md, "Group commit").
        self._in_flight = False

    def place_all(self, commands: Sequence[PlaceOrder]) -> list[Outcome]:
        return self._inner.place_all(commands)

    def place(self, command: PlaceOrder) -> PlacementResult:
        if self._batch_limit == 1:  # nothing to gather (MongoDB)
            return self._inner.place(command)
        slot = _Slot(command)
        with self._turn:
            if self._in_flight:
                self._waiting.append(slot)
            else:
                self._in_flight = True
                slot.batch = self._gather(slot)
        if slot.batch is None:
            slot.gate.acquire()  # until its batch is done, or it is to lead one
        if slot.batch is not None:
            try:
                self._place(slot.batch)
            finally:
                self._hand_over(slot.batch)
        outcome = slot.outcome
        if isinstance(outcome, Exception):
            raise outcome
        assert outcome is not None
        return outcome

    def _gather(self, leader: _Slot) -> list[_Slot]:
        """The leader and whoever waits, up to the batch limit (under _turn)."""
        batch = [leader]
        while self._waiting and len(batch) < self._batch_limit:
            batch.append(self._waiting.popleft())
        return batch

    def _place(self, batch: list[_Slot]) -> None:
        try:
            outcomes = self._inner.place_all([slot.command for slot in batch])
        except Exception as exc:  # every caller of the batch gets the answer
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.outcome = outcome

    def _hand_over(self, batch: list[_Slot]) -> None:
        """The batch is done: the first request waiting (if any) leads the
        ones waiting now, in this batch's place; then its members are woken."""
        with self._turn:
            successor = self._waiting.popleft() if self._waiting else None
            if successor is None:
                self._in_flight = False
            else:
                successor.batch = self._gather(successor)
        if successor is not None:
            successor.gate.release()
        for member in batch[1:]:  # the first is the leader, this thread
            member.gate.release()
