"""Commands: requests to change something, named in the imperative."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from orderflow.domain.identity import ANONYMOUS_SCOPE, Principal
from orderflow.domain.model import Customer, PaymentMethod


@dataclass(frozen=True, slots=True)
class Command:
    pass


@dataclass(frozen=True, slots=True)
class LineRequest:
    """What a client asks for. No price: prices come from the catalog."""

    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlaceOrder(Command):
    customer: Customer
    items: tuple[LineRequest, ...]
    payment_method: PaymentMethod
    idempotency_key: str | None = None
    # Who places it (None: anonymous): the order's owner, and the scope of
    # its Idempotency-Key.
    principal: Principal | None = None
    # The request's propagation headers (W3C trace context), opaque here:
    # carried to the order's outbox message, so its trace goes on there.
    trace_headers: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def owner(self) -> str | None:
        return self.principal.owner if self.principal is not None else None

    @property
    def idempotency_scope(self) -> str:
        return self.principal.idempotency_scope if self.principal else ANONYMOUS_SCOPE

    def fingerprint(self) -> str:
        """A stable digest of the request, to tell a retry from a different request."""
        canonical = json.dumps(
            {
                "customer": [self.customer.name, self.customer.email, self.customer.address],
                "items": [[line.product_id, line.quantity] for line in self.items],
                "payment_method": self.payment_method.value,
            },
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ProcessOrder(Command):
    order_id: str


@dataclass(frozen=True, slots=True)
class CancelOrder(Command):
    order_id: str
