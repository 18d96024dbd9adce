"""Intake as its callers see it (HTTP, the library): place orders.

The use case (application/placing.py) and the group commit that gathers
concurrent callers into one batch (adapters/group_commit.py) both offer it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from orderflow.domain.commands import PlaceOrder


@dataclass(frozen=True, slots=True)
class PlacementResult:
    order: dict[str, object]  # the response body: the order as first stored
    created: bool  # False when an Idempotency-Key replayed an earlier response
    # The order's access token (shown to the placer only: in the 201 and in
    # replays of it); None on a replay of an order placed through the broker.
    access_token: str | None = None


#: What placing one command came to: its result, or the error that is its
#: answer (InvalidInput, IdempotencyConflict, StorageUnavailable, ...).
Outcome = PlacementResult | Exception


class Placement(ABC):
    @abstractmethod
    def place_all(self, commands: Sequence[PlaceOrder]) -> list[Outcome]:
        """Place every command, as few transactions as the store allows; one
        outcome per command, in order. One command's error is its own and
        never fails the others."""

    def place(self, command: PlaceOrder) -> PlacementResult:
        """Place one order: its result, or raise its error."""
        (outcome,) = self.place_all([command])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
