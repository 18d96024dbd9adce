"""Who is asking: principals, and what each may do with an order.

Three kinds of principal, each presented as `Authorization: Bearer <secret>`:
- an order access token (returned once, in the 201 of the order it grants):
  that one order, read and cancel;
- a customer (a verified JWT's `sub`): the orders placed with its token;
- an API key with a role: `shop` places orders on behalf of customers and
  owns what it placed; `ops` reads every order, and places and cancels none.

Orders record their owner as a string (`customer:<sub>`, `key:<id>`, or
None for an anonymous order) and the SHA-256 of their access token; the
rules below compare those, so every store only has to keep two strings."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orderflow.domain.model import Order

ANONYMOUS_SCOPE = "anonymous"
# Secrets say what they are, so a bearer is routed without trying each store.
ORDER_TOKEN_PREFIX = "oft_"
API_KEY_PREFIX = "ofk_"
MAX_SUBJECT = 200  # a customer `sub` longer than this is refused (owner column: 255)


class Role(StrEnum):
    SHOP = "shop"
    OPS = "ops"


class PrincipalKind(StrEnum):
    ORDER_TOKEN = "order_token"
    CUSTOMER = "customer"
    API_KEY = "api_key"


def token_digest(secret: str) -> str:
    """What is stored of a bearer secret (order token, API key): its SHA-256,
    hex. The secrets carry at least 128 random bits, so a fast hash is enough:
    there is nothing to brute-force that a slow hash would protect."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A service's credential. The secret itself is never stored."""

    id: str
    name: str
    role: Role
    secret_digest: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    # The order token's digest, the customer's `sub`, or the API key's id.
    subject: str
    role: Role | None = None

    @classmethod
    def with_order_token(cls, token: str) -> Principal:
        return cls(PrincipalKind.ORDER_TOKEN, token_digest(token))

    @classmethod
    def customer(cls, sub: str) -> Principal:
        return cls(PrincipalKind.CUSTOMER, sub)

    @classmethod
    def with_api_key(cls, key: ApiKey) -> Principal:
        return cls(PrincipalKind.API_KEY, key.id, key.role)

    @property
    def id(self) -> str:
        """A stable name for this principal (rate limits, logs): never a secret."""
        if self.kind is PrincipalKind.ORDER_TOKEN:
            return "order-token:" + self.subject[:16]
        return self.owner or ""

    @property
    def owner(self) -> str | None:
        """Who owns the orders this principal places (None: anonymous)."""
        if self.kind is PrincipalKind.CUSTOMER:
            return "customer:" + self.subject
        if self.kind is PrincipalKind.API_KEY:
            return "key:" + self.subject
        return None  # an order token places nothing of its own

    @property
    def idempotency_scope(self) -> str:
        """The namespace of this principal's Idempotency-Keys."""
        return self.owner or ANONYMOUS_SCOPE

    @property
    def may_place(self) -> bool:
        # An ops key is a monitoring and support credential: it reads any
        # order, and acts on none (placing, cancelling) as a shop would.
        return self.role is not Role.OPS

    @property
    def may_list(self) -> bool:
        # Listing is of one's own orders: an ops key owns none.
        return self.owner is not None and self.may_place

    def owns(self, order: Order) -> bool:
        if self.kind is PrincipalKind.ORDER_TOKEN:
            digest = order.access_token_digest
            return digest is not None and hmac.compare_digest(digest, self.subject)
        return order.owner is not None and order.owner == self.owner

    def may_read(self, order: Order) -> bool:
        return self.role is Role.OPS or self.owns(order)

    def may_cancel(self, order: Order) -> bool:
        # ops reads every order but acts on none it does not own.
        return self.owns(order)


def scoped_key(scope: str, key: str) -> str:
    """What an Idempotency-Key is stored as: the SHA-256 of the principal's
    scope and the key, so that two principals never share a record, and
    the stores keep neither the key nor the principal in clear."""
    return hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
