"""The Order aggregate, its value objects, and the Product entity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from orderflow.domain import events
from orderflow.domain.errors import InsufficientStock, InvalidInput, InvalidTransition

MONEY_PLACES = Decimal("0.01")


class OrderStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Processing is over: no worker moves the order any more."""
        return self in TERMINAL_STATUSES

    @property
    def is_final(self) -> bool:
        """Nothing can move the order any more (a completed order can still
        be cancelled: terminal, not final)."""
        return not ALLOWED_TRANSITIONS[self]


TERMINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED})

# The whole status machine. Anything not listed here is a domain error.
# A completed order is confirmed, not shipped: it can still be cancelled,
# and its reserved stock goes back (Order.cancel).
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PROCESSING, OrderStatus.CANCELLED}),
    OrderStatus.PROCESSING: frozenset(
        {OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED}
    ),
    OrderStatus.COMPLETED: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.FAILED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class PaymentMethod(StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    BANK_TRANSFER = "bank_transfer"
    CASH_ON_DELIVERY = "cash_on_delivery"


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    email: str
    address: str


@dataclass(frozen=True, slots=True)
class OrderLine:
    product_id: str
    quantity: int
    unit_price: Decimal

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise InvalidInput("quantity", "must be greater than 0")
        if self.unit_price < 0:
            raise InvalidInput("unit_price", "must not be negative")

    @property
    def line_total(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(MONEY_PLACES)


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of an order's timeline: the status it reached, when, and why
    (the failure reason; None for the other statuses)."""

    status: OrderStatus
    at: datetime
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "at": self.at.astimezone(UTC).isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        reason = data.get("reason")
        return cls(
            status=OrderStatus(data["status"]),
            at=datetime.fromisoformat(data["at"]),
            reason=None if reason is None else str(reason),
        )


# The way each status is reached from pending; used to rebuild a timeline
# for orders stored before the history was recorded.
_PATH_FROM_PENDING: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    OrderStatus.PENDING: (),
    OrderStatus.PROCESSING: (OrderStatus.PROCESSING,),
    OrderStatus.COMPLETED: (OrderStatus.PROCESSING, OrderStatus.COMPLETED),
    OrderStatus.FAILED: (OrderStatus.PROCESSING, OrderStatus.FAILED),
    OrderStatus.CANCELLED: (OrderStatus.CANCELLED,),
}


def _units(data: Mapping[str, Any]) -> dict[str, int]:
    return {str(product_id): int(quantity) for product_id, quantity in data.items()}


def unit_lines(units: Mapping[str, int]) -> list[dict[str, Any]]:
    """Units per product as JSON lines, [{product_id, quantity}] by product id."""
    return [{"product_id": pid, "quantity": units[pid]} for pid in sorted(units)]


@dataclass(eq=False, slots=True)
class Order:
    """The aggregate. Every change goes through a transition method, which
    bumps `version` (so caches can refuse stale writes), appends to `history`
    and records an event.

    `history` is the timeline, oldest first: one Transition per status the
    order reached, starting with pending. An order built without one (stored
    before histories were kept) gets a best-effort timeline derived from
    created_at, updated_at and its status."""

    id: str
    customer: Customer
    items: tuple[OrderLine, ...]
    payment_method: PaymentMethod
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None
    version: int = 1
    history: list[Transition] = field(default_factory=list)
    # Who placed it (domain/identity.py: `customer:<sub>`, `key:<id>`; None
    # for an anonymous order) and the SHA-256 of its access token (None for
    # orders placed before tokens existed): what ownership is checked against.
    owner: str | None = None
    access_token_digest: str | None = field(default=None, repr=False)
    # Units of each product this order holds from stock: what a cancel gives
    # back. None (an order stored before reservations were recorded) is
    # derived from the status: only completing takes stock, all lines at once.
    reserved: dict[str, int] | None = None
    events: list[events.Event] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self.history:
            self.history = self.derived_history()
        if self.reserved is None:
            self.reserved = self.quantities() if self.status is OrderStatus.COMPLETED else {}

    def derived_history(self) -> list[Transition]:
        """The timeline as far as the timestamps tell: pending at created_at,
        each later status on the way to the current one at updated_at."""
        history = [Transition(OrderStatus.PENDING, self.created_at)]
        for status in _PATH_FROM_PENDING[self.status]:
            reason = self.failure_reason if status is OrderStatus.FAILED else None
            history.append(Transition(status, self.updated_at, reason))
        return history

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer: Customer,
        items: tuple[OrderLine, ...],
        payment_method: PaymentMethod,
        now: datetime,
        owner: str | None = None,
        access_token_digest: str | None = None,
    ) -> Order:
        if not items:
            raise InvalidInput("items", "an order needs at least one item")
        order = cls(
            id=order_id,
            customer=customer,
            items=items,
            payment_method=payment_method,
            status=OrderStatus.PENDING,
            created_at=now,
            updated_at=now,
            owner=owner,
            access_token_digest=access_token_digest,
        )
        order.events.append(events.OrderPlaced.of(order))
        return order

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.items), Decimal("0.00")).quantize(MONEY_PLACES)

    def quantities(self) -> dict[str, int]:
        """Units asked for per product; an order may name a product twice."""
        wanted: dict[str, int] = {}
        for line in self.items:
            wanted[line.product_id] = wanted.get(line.product_id, 0) + line.quantity
        return wanted

    def start_processing(self, now: datetime) -> None:
        self._move_to(OrderStatus.PROCESSING, now)
        self.events.append(events.OrderProcessingStarted(order_id=self.id, occurred_at=now))

    def complete(self, now: datetime) -> None:
        """Processing -> completed, once every line's stock was taken
        (domain/inventory.py reserve): the order now holds those units."""
        self._move_to(OrderStatus.COMPLETED, now)
        self.reserved = self.quantities()
        self.events.append(
            events.OrderCompleted(order_id=self.id, total=str(self.total), occurred_at=now)
        )

    def fail(self, reason: str, now: datetime) -> None:
        self._move_to(OrderStatus.FAILED, now, reason)
        self.failure_reason = reason
        self.events.append(events.OrderFailed(order_id=self.id, reason=reason, occurred_at=now))

    def cancel(self, now: datetime) -> dict[str, int]:
        """-> cancelled, letting go of every reserved unit: returns them (per
        product; empty if it held none) for the caller to put back in stock
        in the same unit of work. Cancelled is final, so this happens once."""
        self._move_to(OrderStatus.CANCELLED, now)
        restocked, self.reserved = dict(self.reserved or {}), {}
        self.events.append(
            events.OrderCancelled(
                order_id=self.id,
                occurred_at=now,
                restocked=unit_lines(restocked),
            )
        )
        return restocked

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready snapshot used by the cache, events and the API."""
        return {
            "id": self.id,
            "customer": {
                "name": self.customer.name,
                "email": self.customer.email,
                "address": self.customer.address,
            },
            "items": [
                {
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                }
                for line in self.items
            ],
            "payment_method": self.payment_method.value,
            "status": self.status.value,
            "failure_reason": self.failure_reason,
            "total": str(self.total),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
            "history": [transition.to_dict() for transition in self.history],
            # Internal: the HTTP views leave these three out.
            "owner": self.owner,
            "access_token_digest": self.access_token_digest,
            "reserved": dict(self.reserved or {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Order:
        """Inverse of to_dict. Raises KeyError/ValueError/InvalidInput on bad data."""
        customer = data["customer"]
        return cls(
            id=str(data["id"]),
            customer=Customer(
                name=customer["name"], email=customer["email"], address=customer["address"]
            ),
            items=tuple(
                OrderLine(
                    product_id=str(item["product_id"]),
                    quantity=int(item["quantity"]),
                    unit_price=Decimal(str(item["unit_price"])),
                )
                for item in data["items"]
            ),
            payment_method=PaymentMethod(data["payment_method"]),
            status=OrderStatus(data["status"]),
            failure_reason=data.get("failure_reason"),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            version=int(data["version"]),
            # Snapshots written before histories were kept have none: derived.
            history=[Transition.from_dict(item) for item in data.get("history") or ()],
            # Snapshots written before identity existed have neither.
            owner=data.get("owner"),
            access_token_digest=data.get("access_token_digest"),
            # Snapshots written before reservations were recorded: derived.
            reserved=None if data.get("reserved") is None else _units(data["reserved"]),
        )

    def _move_to(self, target: OrderStatus, now: datetime, reason: str | None = None) -> None:
        if target not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidTransition(self.id, self.status.value, target.value)
        self.status = target
        self.updated_at = max(now, self.updated_at)
        self.version += 1
        self.history.append(Transition(target, self.updated_at, reason))


@dataclass(eq=False, slots=True)
class Product:
    id: str
    name: str
    description: str
    price: Decimal
    stock: int

    def __post_init__(self) -> None:
        if self.stock < 0:
            raise InvalidInput("stock", "must not be negative")
        if self.price < 0:
            raise InvalidInput("price", "must not be negative")

    def take(self, quantity: int) -> None:
        """Remove units from stock; never lets stock go below zero."""
        if quantity > self.stock:
            raise InsufficientStock(self.id, quantity, self.stock)
        self.stock -= quantity

    def put_back(self, quantity: int) -> None:
        """Return units a cancelled order had taken."""
        if quantity <= 0:
            raise InvalidInput("quantity", "must be greater than 0")
        self.stock += quantity

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "price": str(self.price),
            "stock": self.stock,
        }
