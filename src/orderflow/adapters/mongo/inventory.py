"""Applying a unit of work's stock changes: conditional single-document
updates, so stock never goes negative without any lock or transaction.

- A take is `{_id, stock: {$gte: n}}` with `$inc: {stock: -n}`; it fails
  (matches nothing) rather than oversell. Takes run first, in sorted id
  order; when one fails the commit stops with ConcurrentUpdate (the stock
  changed since it was read) and the retry reads the new stock.
- When the unit of work holds one order's lock (processing), a take also
  pushes a hold `{order_id, quantity}` onto the product, and only if that
  order holds none yet. A hold makes the take idempotent across crashes: a
  later attempt for the same order counts its held units as its own stock
  (repositories.py) and finds nothing more to take, or releases them if the
  order fails. Holds are therefore never undone here; the order's next
  attempt settles them. Once the order is finished they are dropped.
- A cancel gives a completed order's units back the same way: the give
  pushes a negative hold `{order_id, quantity: -n}`, only if that order
  holds none, so a cancel retried after a crash finds its units already
  given and gives nothing more. Dropped once the order is cancelled.
- Other changes (no locked order) are plain $inc and are undone on failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from orderflow.adapters.mongo.documents import HOLDS
from orderflow.adapters.mongo.staging import Staging
from orderflow.adapters.mongo.store import MongoStore
from orderflow.domain.errors import ConcurrentUpdate

log = logging.getLogger(__name__)


class _Kind(Enum):
    TAKE = "take"  # conditional: fails rather than go below zero
    RELEASE = "release"  # give a hold back
    GIVE = "give"  # unconditional increase
    SET = "set"  # absolute stock of a product this unit of work never read


@dataclass(frozen=True, slots=True)
class _Step:
    kind: _Kind
    product_id: str
    quantity: int
    tag: str | None = None


class StockChanges:
    def __init__(self, store: MongoStore, staging: Staging) -> None:
        self._store = store
        self._tag = staging.hold_tag
        self._steps: list[_Step] = []
        self._applied: list[_Step] = []
        self.held_after: list[str] = []
        """Products on which the tagged order holds units after the commit."""
        self._plan(staging)

    def __bool__(self) -> bool:
        return bool(self._steps)

    def _plan(self, s: Staging) -> None:
        first: list[_Step] = []  # the ones that can fail, in sorted id order
        then: list[_Step] = []
        tag = self._tag
        for pid in sorted(s.saved_stock):
            new = s.saved_stock[pid]
            seen = s.stock_seen.get(pid)
            if seen is None:
                then.append(_Step(_Kind.SET, pid, new))
                continue
            change = seen - new  # units taken (negative: given back)
            if tag is not None and pid in s.held:
                held = s.held[pid]
                if change == held:
                    if held:
                        self.held_after.append(pid)
                    continue
                if held:
                    first.append(_Step(_Kind.RELEASE, pid, held, tag))
                if change > 0:
                    first.append(_Step(_Kind.TAKE, pid, change, tag))
                    self.held_after.append(pid)
                elif change < 0:
                    then.append(_Step(_Kind.GIVE, pid, -change, tag))
                    self.held_after.append(pid)
            elif change > 0:
                first.append(_Step(_Kind.TAKE, pid, change))
            elif change < 0:
                then.append(_Step(_Kind.GIVE, pid, -change))
        if tag is not None:
            # Held units of products the order no longer takes (it failed).
            for pid in sorted(set(s.held) - set(s.saved_stock)):
                if s.held[pid]:
                    then.append(_Step(_Kind.RELEASE, pid, s.held[pid], tag))
        self._steps = first + then

    def apply(self) -> None:
        """Raises ConcurrentUpdate, after undoing what it did, when a take
        finds less stock than this unit of work read."""
        for step in self._steps:
            if not self._run(step):
                self.undo()
                raise ConcurrentUpdate(
                    f"stock of product {step.product_id} changed since it was read"
                )
            self._applied.append(step)

    def undo(self) -> None:
        """Undo the plain changes and a cancel's gives applied so far (holds
        of takes stay: see the module docstring). Best effort: what cannot be
        undone is logged, and a give left behind is found by the retry."""
        applied, self._applied = self._applied, []
        for step in reversed(applied):
            if step.kind is _Kind.GIVE and step.tag is not None:
                self._take_back(step)
                continue
            if step.tag is not None or step.kind is _Kind.SET:
                continue
            opposite = _Kind.GIVE if step.kind is _Kind.TAKE else _Kind.TAKE
            try:
                if not self._run(_Step(opposite, step.product_id, step.quantity)):
                    log.error("could not undo %s of product %s", step.kind.value, step.product_id)
            except Exception:
                log.exception("could not undo %s of product %s", step.kind.value, step.product_id)

    def drop_holds(self) -> None:
        """After the tagged order finished: its holds are spent stock now."""
        if self._tag is None or not self.held_after:
            return
        self._store.products.update_many(
            {"_id": {"$in": self.held_after}}, {"$pull": {HOLDS: {"order_id": self._tag}}}
        )

    def _take_back(self, step: _Step) -> None:
        n, tag = step.quantity, step.tag
        try:
            self._store.products.update_one(
                {
                    "_id": step.product_id,
                    "stock": {"$gte": n},
                    HOLDS: {"$elemMatch": {"order_id": tag, "quantity": -n}},
                },
                {"$inc": {"stock": -n}, "$pull": {HOLDS: {"order_id": tag}}},
            )
        except Exception:
            log.exception("could not take back the give of product %s", step.product_id)

    def _run(self, step: _Step) -> bool:
        products = self._store.products
        pid, n, tag = step.product_id, step.quantity, step.tag
        if step.kind is _Kind.TAKE:
            if tag is None:
                taken = products.update_one(
                    {"_id": pid, "stock": {"$gte": n}}, {"$inc": {"stock": -n}}
                )
            else:
                taken = products.update_one(
                    {"_id": pid, "stock": {"$gte": n}, f"{HOLDS}.order_id": {"$ne": tag}},
                    {"$inc": {"stock": -n}, "$push": {HOLDS: {"order_id": tag, "quantity": n}}},
                )
            return taken.matched_count == 1
        if step.kind is _Kind.RELEASE:
            # Matches only the hold that was read; if it is gone there is
            # nothing left to give back.
            products.update_one(
                {"_id": pid, HOLDS: {"$elemMatch": {"order_id": tag, "quantity": n}}},
                {"$inc": {"stock": n}, "$pull": {HOLDS: {"order_id": tag}}},
            )
            return True
        if step.kind is _Kind.GIVE:
            if tag is None:
                products.update_one({"_id": pid}, {"$inc": {"stock": n}})
            else:
                # Matches nothing if this order's give is already there.
                products.update_one(
                    {"_id": pid, f"{HOLDS}.order_id": {"$ne": tag}},
                    {"$inc": {"stock": n}, "$push": {HOLDS: {"order_id": tag, "quantity": -n}}},
                )
            return True
        products.update_one({"_id": pid}, {"$set": {"stock": n}})
        return True
