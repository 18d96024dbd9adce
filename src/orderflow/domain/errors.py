"""The error hierarchy. Adapters translate their drivers' errors into these
(`raise StorageUnavailable(...) from exc`) so services and entrypoints never
see a driver's exception type."""

from __future__ import annotations


class OrderflowError(Exception):
    """Base of every error orderflow raises on purpose."""


# --- domain rules -------------------------------------------------------


class DomainError(OrderflowError):
    """A business rule said no. Maps to a 4xx at the HTTP edge."""


class InvalidTransition(DomainError):
    def __init__(self, order_id: str, current: str, target: str) -> None:
        super().__init__(f"order {order_id} cannot go from {current} to {target}")
        self.order_id = order_id
        self.current = current
        self.target = target


class OrderNotFound(DomainError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class ProductNotFound(DomainError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id} not found")
        self.product_id = product_id


class InsufficientStock(DomainError):
    def __init__(self, product_id: str, requested: int, available: int) -> None:
        super().__init__(
            f"insufficient stock for product {product_id}: "
            f"requested {requested}, available {available}"
        )
        self.product_id = product_id
        self.requested = requested
        self.available = available


class InvalidInput(DomainError):
    """A value that passed the HTTP schema but breaks a domain rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IdempotencyConflict(DomainError):
    """The same Idempotency-Key was sent with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used with a different request")
        self.key = key


class Unauthenticated(DomainError):
    """No credentials where some are needed, or credentials that do not
    verify (unknown, revoked, expired, badly signed). The reason is for the
    log; the client is told only that it must authenticate."""

    def __init__(self, reason: str = "credentials required") -> None:
        super().__init__(reason)
        self.reason = reason


class NotPermitted(DomainError):
    """A known principal asked for something its kind or role may not do
    (an ops key cancelling, an order token listing orders)."""


# --- infrastructure ------------------------------------------------------


class InfrastructureError(OrderflowError):
    """A dependency failed. Transient unless a subclass says otherwise."""


class StorageUnavailable(InfrastructureError):
    """The database cannot be reached or refused the transaction for a transient reason."""


class BrokerUnavailable(InfrastructureError):
    """The message broker cannot be reached."""


class CacheUnavailable(InfrastructureError):
    """The cache cannot be reached; callers fall back to the database."""


class DuplicateKey(InfrastructureError):
    """A unique constraint rejected a write (an id or idempotency key already stored)."""


class ConcurrentUpdate(InfrastructureError):
    """An optimistic version check failed: someone else saved the aggregate first."""


class PermanentMessageError(OrderflowError):
    """A message that can never be processed (undecodable, invalid, unknown schema).
    Consumers send it to the dead-letter topic at once instead of retrying."""


class NotificationFailed(InfrastructureError):
    """A notifier could not deliver; the relay retries it later."""


class NotificationThrottled(OrderflowError):
    """The recipient has had its share of notifications for now: this one is
    given up at once, never retried (a retry would only add to the flood)."""
