"""Placing orders: price them from the catalog, store each with its
OrderPlaced event in one transaction (the outbox), honouring Idempotency-Key.

Batch-shaped: `place_all` places any number of commands in one transaction
(one catalog read, one insert per table, one commit), up to the store's
`batch_limit`, and a single order is a batch of one. Gathering concurrent
callers into batches is not this module's business (adapters/group_commit.py).

When the database is unreachable, intake stays available (the broker
fallback): each order is priced from the prices last read from the catalog
(KnownPrices) and its OrderPlaced event is published straight to the
broker; the worker persists it (upsert by id) once the database is back.
The keys published that way are remembered (FallbackKeys) so that a retry
is compared with the first body, as on the normal path. If
the broker is down too, or a price was never seen, that order's outcome is
the StorageUnavailable/BrokerUnavailable (503).

A keyed order's access token is derived like its id (HMAC under the server
secret, another label), so no store keeps it: a replay recomputes it. An
ops key may not place orders (NotPermitted, before anything is stored)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from orderflow.application.identity import derived_order_token, new_order_token
from orderflow.application.messages import Topics, to_outbox
from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.errors import (
    DomainError,
    DuplicateKey,
    IdempotencyConflict,
    InvalidInput,
    NotPermitted,
    StorageUnavailable,
)
from orderflow.domain.events import OrderPlaced
from orderflow.domain.identity import scoped_key, token_digest
from orderflow.domain.model import Order, OrderLine
from orderflow.ports.clock import Clock
from orderflow.ports.fallback_keys import FallbackKeys
from orderflow.ports.idempotency import IdempotencyRecord
from orderflow.ports.messaging import MessagePublisher
from orderflow.ports.metrics import ORDERS_PLACED, Metrics
from orderflow.ports.placement import Outcome, Placement, PlacementResult
from orderflow.ports.prices import KnownPrices
from orderflow.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

# Records written before tokens were derived kept the token in clear under
# this key of their response: dropped when read, never answered.
_CLEAR_TOKEN = "access_token"


def order_id_for(command: PlaceOrder, *, secret: bytes) -> str:
    """A fresh UUID4, or, for a keyed request, a UUID4-shaped id derived from
    the principal's scope and the key with a server secret (HMAC-SHA256): a
    retry during a database outage then reuses the same id, and the worker's
    upsert by id collapses the duplicates; without the secret, no client can
    compute an id from what it sends."""
    key = command.idempotency_key
    if key is None:
        return str(uuid.uuid4())
    message = f"{command.idempotency_scope}\n{key}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def access_token_for(command: PlaceOrder, *, secret: bytes) -> str:
    """A fresh random token, or, for a keyed request, the token derived from
    the principal's scope and the key with the server secret (beside the
    id's derivation, under another label): a replay, and a retry through
    the broker fallback, answer the same token without any store keeping it."""
    key = command.idempotency_key
    if key is None:
        return new_order_token()
    return derived_order_token(secret, scope=command.idempotency_scope, key=key)


def record_key(command: PlaceOrder) -> str | None:
    """What the command's Idempotency-Key is stored as (scoped to its principal)."""
    key = command.idempotency_key
    return None if key is None else scoped_key(command.idempotency_scope, key)


def _replayed(response: dict[str, object], token: str) -> PlacementResult:
    """The earlier answer again, with the recomputed `token` if it is the one
    the order was placed with (its digest is in the response); None if not:
    the server secret was rotated since, or an older release placed it with
    a random token."""
    body = dict(response)
    body.pop(_CLEAR_TOKEN, None)
    digest = body.get("access_token_digest")
    grants = isinstance(digest, str) and hmac.compare_digest(digest, token_digest(token))
    return PlacementResult(order=body, created=False, access_token=token if grants else None)


def _may_place(command: PlaceOrder) -> bool:
    return command.principal is None or command.principal.may_place


def _fingerprint_of(order: Order) -> str:
    """The fingerprint of the request that placed `order`."""
    return PlaceOrder(
        customer=order.customer,
        items=tuple(LineRequest(line.product_id, line.quantity) for line in order.items),
        payment_method=order.payment_method,
    ).fingerprint()


def _as_placed(order: Order) -> dict[str, object]:
    """The response body of a new order: the snapshot its OrderPlaced event
    already holds (the same dict `to_dict` would build again). Read before
    the events are cleared."""
    for event in order.events:
        if isinstance(event, OrderPlaced):
            return event.order
    return order.to_dict()


def _prices_of(command: PlaceOrder, catalog: dict[str, Decimal]) -> dict[str, Decimal]:
    """The catalog prices of the command's lines; InvalidInput naming the
    first line whose product is unknown."""
    prices: dict[str, Decimal] = {}
    for index, line in enumerate(command.items):
        price = catalog.get(line.product_id)
        if price is None:
            raise InvalidInput(f"items[{index}].product_id", "is not in the catalog")
        prices[line.product_id] = price
    return prices


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderPlacement(Placement):
    uow_factory: UnitOfWorkFactory
    clock: Clock
    metrics: Metrics
    topics: Topics
    known_prices: KnownPrices
    fallback_keys: FallbackKeys
    # The server secret of keyed order ids (ORDERFLOW_ID_SECRET).
    id_secret: bytes
    fallback_publisher: MessagePublisher | None = None

    @property
    def batch_limit(self) -> int:
        return self.uow_factory.batch_limit

    def place_all(self, commands: Sequence[PlaceOrder]) -> list[Outcome]:
        if len(commands) > self.batch_limit:
            raise ValueError(f"a batch holds at most {self.batch_limit} orders")
        if not all(_may_place(command) for command in commands):
            # Refused before anything is read or stored (an ops key); the
            # others are placed as if they had come alone.
            permitted = [command for command in commands if _may_place(command)]
            placed = iter(self.place_all(permitted) if permitted else [])
            return [
                next(placed)
                if _may_place(command)
                else NotPermitted("an ops key reads orders; it may not place them")
                for command in commands
            ]
        # One id and one token per command for every path it takes: a commit
        # whose acknowledgement was lost (StorageUnavailable after the rows
        # landed) falls back to the broker with the same orders, and the
        # worker's upsert by id keeps each one order.
        order_ids = [order_id_for(command, secret=self.id_secret) for command in commands]
        tokens = [access_token_for(command, secret=self.id_secret) for command in commands]
        try:
            try:
                return self._in_one_transaction(commands, order_ids, tokens)
            except DuplicateKey:
                # A concurrent request under one of these Idempotency-Keys
                # committed first: a second attempt finds its record.
                return self._in_one_transaction(commands, order_ids, tokens)
        except StorageUnavailable as exc:
            return [
                self._through_broker(command, order_id, token, exc)
                for command, order_id, token in zip(commands, order_ids, tokens, strict=True)
            ]
        except Exception as exc:
            if len(commands) == 1:
                return [exc]
            # One request must not fail the others: each again on its own.
            log.warning(
                "placing %d orders together failed (%r); one by one now", len(commands), exc
            )
            return [outcome for command in commands for outcome in self.place_all([command])]

    def _in_one_transaction(
        self, commands: Sequence[PlaceOrder], order_ids: Sequence[str], tokens: Sequence[str]
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(commands)
        later: list[int] = []  # a key already in this batch: placed after it
        with self.uow_factory() as uow:
            keys: set[str] = set()
            fresh: list[int] = []
            for index, command in enumerate(commands):
                key = record_key(command)
                if key in keys:
                    later.append(index)
                    continue
                if key is not None:
                    keys.add(key)
                    outcomes[index] = self._replay(
                        uow,
                        command,
                        order_ids[index],
                        tokens[index],
                        self.fallback_keys.recall(key),
                    )
                if outcomes[index] is None:
                    fresh.append(index)
            catalog = uow.products.prices(
                [line.product_id for i in fresh for line in commands[i].items]
            )
            self.known_prices.remember(catalog)
            placed: list[tuple[int, Order, str]] = []
            for index in fresh:
                token = tokens[index]
                try:
                    order = self._new_order(
                        commands[index],
                        _prices_of(commands[index], catalog),
                        order_ids[index],
                        token,
                    )
                except DomainError as exc:  # this request's own fault, e.g. an unknown product
                    outcomes[index] = exc
                    continue
                placed.append((index, order, token))
            if placed:
                responses = self._stage(uow, [(commands[i], o, t) for i, o, t in placed])
                for (index, _, token), response in zip(placed, responses, strict=True):
                    outcomes[index] = PlacementResult(
                        order=response, created=True, access_token=token
                    )
                uow.commit()
        if placed:
            self.metrics.increment(ORDERS_PLACED, len(placed), path="outbox")
        for index in later:
            (outcomes[index],) = self.place_all([commands[index]])
        return [outcome for outcome in outcomes if outcome is not None]

    def _stage(
        self, uow: UnitOfWork, placed: Sequence[tuple[PlaceOrder, Order, str]]
    ) -> list[dict[str, object]]:
        """Stage the new orders, their OrderPlaced events and the records of
        their Idempotency-Keys; the response body of each.

        A record keeps the response, whose order snapshot holds the digest of
        the access token, never the token: a replay recomputes it."""
        uow.orders.add_many([order for _, order, _ in placed])
        uow.outbox.add(
            [
                message
                for command, order, _ in placed
                for message in to_outbox(
                    order.events, topics=self.topics, headers=command.trace_headers
                )
            ]
        )
        responses = []
        for command, order, _ in placed:
            response = _as_placed(order)
            order.events.clear()
            responses.append(response)
            key = record_key(command)
            if key is not None:
                uow.idempotency.add(
                    IdempotencyRecord(
                        key=key,
                        fingerprint=command.fingerprint(),
                        order_id=order.id,
                        response=response,
                        created_at=order.created_at,
                    )
                )
        return responses

    @staticmethod
    def _replay(
        uow: UnitOfWork,
        command: PlaceOrder,
        order_id: str,
        token: str,
        published: IdempotencyRecord | None,
    ) -> Outcome | None:
        """The earlier answer under the command's Idempotency-Key, an
        IdempotencyConflict if that was for another body, or None: new.
        `published` is the key's record from the broker fallback, if any."""
        key = record_key(command)
        assert key is not None and command.idempotency_key is not None
        fingerprint = command.fingerprint()
        record = uow.idempotency.get(key) or published
        if record is not None:
            if record.fingerprint != fingerprint:
                return IdempotencyConflict(command.idempotency_key)
            return _replayed(record.response, token)
        # Placed through the broker during an outage, then persisted by the
        # worker (no record), or committed by a concurrent request between
        # the two reads (its record is visible now under READ COMMITTED):
        # same key, same id. A replay only if the body is the same.
        stored = uow.orders.get(order_id)
        if stored is None:
            return None
        record = uow.idempotency.get(key)
        stored_fingerprint = record.fingerprint if record is not None else _fingerprint_of(stored)
        if stored_fingerprint != fingerprint:
            return IdempotencyConflict(command.idempotency_key)
        # Without a record (placed through the broker), the token is
        # recomputed all the same: the order holds its digest.
        return _replayed(record.response if record is not None else stored.to_dict(), token)

    def _through_broker(
        self, command: PlaceOrder, order_id: str, token: str, outage: StorageUnavailable
    ) -> Outcome:
        if self.fallback_publisher is None:
            return outage
        product_ids = {line.product_id for line in command.items}
        prices = self.known_prices.recall(product_ids)
        if len(prices) < len(product_ids):
            return StorageUnavailable("database unavailable and a price is not known")
        order = self._new_order(command, prices, order_id, token)
        response = _as_placed(order)
        claimed: IdempotencyRecord | None = None
        key = record_key(command)
        if key is not None and command.idempotency_key is not None:
            # Like the normal path: the first body under a key wins; the
            # same body again gets the first answer (and the same derived
            # token), another body a 422.
            claimed = IdempotencyRecord(
                key=key,
                fingerprint=command.fingerprint(),
                order_id=order.id,
                response=response,
                created_at=order.created_at,
            )
            first = self.fallback_keys.remember_first(claimed)
            if first != claimed:
                if first.fingerprint != claimed.fingerprint:
                    return IdempotencyConflict(command.idempotency_key)
                return _replayed(first.response, token)
        try:
            self.fallback_publisher.publish(
                to_outbox(order.events, topics=self.topics, headers=command.trace_headers)
            )
        except Exception as exc:
            if claimed is not None:
                self.fallback_keys.forget(claimed)
            return exc
        self.metrics.increment(ORDERS_PLACED, path="broker_fallback")
        return PlacementResult(order=response, created=True, access_token=token)

    def _new_order(
        self, command: PlaceOrder, prices: dict[str, Decimal], order_id: str, token: str
    ) -> Order:
        return Order.place(
            order_id=order_id,
            customer=command.customer,
            items=tuple(
                OrderLine(line.product_id, line.quantity, prices[line.product_id])
                for line in command.items
            ),
            payment_method=command.payment_method,
            now=self.clock.now(),
            owner=command.owner,
            access_token_digest=token_digest(token),
        )
