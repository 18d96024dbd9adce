"""Request and response models of the HTTP API (pydantic v2).

Requests are strict: no coercion ("2" is not 2, 2.0 is not 2, true is not 1),
unknown fields are refused, strings are trimmed and bounded, and control
characters are refused. The response models are not used to build responses
(the services return JSON-ready dicts); they describe them for OpenAPI, and
the tests check real responses against them so the two cannot drift."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from orderflow.config import MAX_LINE_QUANTITY
from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.identity import Principal
from orderflow.domain.model import Customer, OrderStatus, PaymentMethod

MAX_QUANTITY = MAX_LINE_QUANTITY  # the configured caps (quantity_caps.py) may lower it
MAX_ITEMS = 100
MAX_NAME = 200
MAX_EMAIL = 254  # RFC 5321 path limit
MAX_ADDRESS = 500
MAX_PRODUCT_REF = 200  # a product name or id in the short form
MAX_SEARCH = 200
MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_OFFSET = 1_000_000
PRODUCT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

# Deliberately simple: one @, no spaces, a dot in the domain. Full RFC 5322
# parsing would accept addresses no mail server delivers to anyway.
# Matched with fullmatch: Python's `$` also matches before a trailing
# newline, so `.match` took `<uuid>\n` for an id.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_PRODUCT_ID = re.compile(PRODUCT_ID_PATTERN)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# Unicode's Cc (C0, DEL, C1) and Cs (surrogates) categories, which are fixed
# ranges: one regex search instead of a unicodedata lookup per character
# (about 40 us of every order placed). tests/unit/http checks it against
# unicodedata over every code point.
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def has_control_characters(value: str) -> bool:
    """Control characters (Cc) and lone surrogates (Cs, which JSON's \\ud800
    escapes can produce and no database can store as UTF-8)."""
    return _CONTROL_OR_SURROGATE.search(value) is not None


def _printable(value: str) -> str:
    if has_control_characters(value):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters or lone surrogates"
        )
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError("email", "is not a valid email address")
    return value


def is_product_id(value: str) -> bool:
    return bool(_PRODUCT_ID.fullmatch(value))


def canonical_order_id(value: str) -> str | None:
    """The lower-case hyphenated form of a UUID, or None if `value` is not one.
    Upper case is accepted (UUIDs are case-insensitive on input); braces,
    `urn:uuid:` and the 32-digit form are not."""
    return value.lower() if _UUID.fullmatch(value) else None


_Printable = AfterValidator(_printable)


def _bounded(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


Name = Annotated[str, _bounded(MAX_NAME), _Printable]
Address = Annotated[str, _bounded(MAX_ADDRESS), _Printable]
ProductRef = Annotated[str, _bounded(MAX_PRODUCT_REF), _Printable]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_EMAIL),
    _Printable,
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}),
]
ProductId = Annotated[str, StringConstraints(pattern=PRODUCT_ID_PATTERN)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
# Lax for this one field: the enum's string values are its JSON form.
PaymentMethodField = Annotated[PaymentMethod, Field(strict=False)]

_STRICT = ConfigDict(strict=True, extra="forbid")


# --- requests -------------------------------------------------------------------


class CustomerRequest(BaseModel):
    model_config = _STRICT

    name: Name
    email: Email
    address: Address

    def to_domain(self) -> Customer:
        return Customer(name=self.name, email=self.email, address=self.address)


class OrderItemRequest(BaseModel):
    model_config = _STRICT

    product_id: ProductId
    quantity: Quantity


class OrderRequest(BaseModel):
    """POST /api/orders. Prices are never sent: they come from the catalog."""

    model_config = _STRICT

    customer: CustomerRequest
    items: Annotated[list[OrderItemRequest], Field(min_length=1, max_length=MAX_ITEMS)]
    payment_method: PaymentMethodField

    def to_command(
        self,
        idempotency_key: str | None,
        principal: Principal | None = None,
        trace_headers: Mapping[str, str] | None = None,
    ) -> PlaceOrder:
        return PlaceOrder(
            customer=self.customer.to_domain(),
            items=tuple(LineRequest(item.product_id, item.quantity) for item in self.items),
            payment_method=self.payment_method,
            idempotency_key=idempotency_key,
            principal=principal,
            trace_headers=trace_headers or {},
        )


# The short form's defaults: the first seed system took orders without any
# customer. `.invalid` (RFC 2606) can never be a deliverable address, and
# cash on delivery is the one method that needs nothing up front.
SHORT_FORM_CUSTOMER = CustomerRequest(
    name="Anonymous customer", email="anonymous@orderflow.invalid", address="Not given"
)
SHORT_FORM_PAYMENT_METHOD = PaymentMethod.CASH_ON_DELIVERY


class ShortOrderRequest(BaseModel):
    """POST /order, the seed's body {"product": name-or-id, "quantity": n}."""

    model_config = _STRICT

    product: ProductRef = Field(description="A product id, or a product name (any case).")
    quantity: Quantity
    customer: CustomerRequest = SHORT_FORM_CUSTOMER
    payment_method: PaymentMethodField = SHORT_FORM_PAYMENT_METHOD


class ProductQuery(BaseModel):
    """GET /api/products query parameters (strings on the wire, hence lax ints)."""

    model_config = ConfigDict(extra="forbid")

    search: Annotated[str, StringConstraints(max_length=MAX_SEARCH), _Printable] = ""
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0


class CancelRequest(BaseModel):
    """POST /api/orders/<id>/cancel: no fields (the body may also be empty)."""

    model_config = ConfigDict(extra="forbid")


class OrderListQuery(BaseModel):
    """GET /api/orders query parameters."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0


# --- responses (documentation and tests) ----------------------------------------

Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["999.00"])]
_RESPONSE = ConfigDict(extra="forbid")


class CustomerOut(BaseModel):
    model_config = _RESPONSE
    name: str
    email: str
    address: str


class OrderLineOut(BaseModel):
    model_config = _RESPONSE
    product_id: str
    quantity: int
    unit_price: Money


_Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class TransitionOut(BaseModel):
    """One step of an order's timeline."""

    model_config = _RESPONSE
    status: OrderStatus
    at: _Timestamp = Field(description="When the order reached this status (ISO 8601, UTC).")
    reason: str | None = Field(description="Why it failed; null for every other status.")


class OrderEventsOut(BaseModel):
    """GET /api/orders/<id>/events: every status the order reached, oldest first."""

    model_config = _RESPONSE
    order_id: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    events: list[TransitionOut]


class OrderOut(BaseModel):
    model_config = _RESPONSE
    id: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    customer: CustomerOut
    items: list[OrderLineOut]
    payment_method: PaymentMethod
    status: OrderStatus
    failure_reason: str | None
    total: Money
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    updated_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    version: int
    history: list[TransitionOut] = Field(description="The status timeline, oldest first.")


_ACCESS_TOKEN = Field(
    description=(
        "The order's access token: send it as `Authorization: Bearer <token>` to read,"
        " follow and cancel this order. Shown only here (and in replays of this"
        " response); the server keeps its SHA-256. Null only on a replay of an order"
        " placed while the database was down."
    ),
    examples=["oft_3q2-7wWbJ0y5r0Y3m1bXc4p9yQm6T8nS2fK1dA0hLzE"],
)


class PlacedOrderOut(OrderOut):
    """201 of POST /api/orders: the order and its access token."""

    access_token: str | None = _ACCESS_TOKEN


class RestockedOut(BaseModel):
    model_config = _RESPONSE
    product_id: str
    quantity: int


class CancelledOrderOut(OrderOut):
    """200 of POST /api/orders/<id>/cancel: the cancelled order and the units
    it put back in stock."""

    restocked: list[RestockedOut] = Field(
        description=(
            "Units returned to stock, by product id: every unit a completed order"
            " held; empty when it held none (pending or processing)."
        )
    )


class OrderPageOut(BaseModel):
    """GET /api/orders: the caller's orders, newest first."""

    model_config = _RESPONSE
    items: list[OrderOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last.")


class ProductOut(BaseModel):
    model_config = _RESPONSE
    id: str
    name: str
    description: str
    price: Money
    stock: int


class ProductPageOut(BaseModel):
    model_config = _RESPONSE
    items: list[ProductOut]
    total: int = Field(
        description=(
            "Matches over all pages when total_exact is true. Searches count at most"
            " 1,000 matches (or up to the end of the page asked for, if further): past"
            " that, total_exact is false and total is a lower bound greater than"
            " offset + limit, so another page exists."
        )
    )
    total_exact: bool = Field(
        description="Whether total counts every match (false: there are at least total)."
    )
    limit: int
    offset: int


class ShortOrderStatusOut(BaseModel):
    """GET /order/<id>, open to anyone with the id: its first line and status,
    never customer data, total or history."""

    model_config = _RESPONSE
    id: str
    product: str = Field(description="The product's name (its id if it left the catalog).")
    quantity: int
    status: OrderStatus


class ShortOrderOut(BaseModel):
    """201 of POST /order: the seed's view of an order (its first line, plus
    the whole total) and the order's access token."""

    model_config = _RESPONSE
    id: str
    product: str = Field(description="The product's name (its id if it left the catalog).")
    product_id: str
    quantity: int
    status: OrderStatus
    total: Money
    failure_reason: str | None
    access_token: str | None = _ACCESS_TOKEN


class FieldErrorOut(BaseModel):
    model_config = _RESPONSE
    field: str = Field(examples=["items[0].quantity"])
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    model_config = _RESPONSE
    type: str = Field(examples=["urn:orderflow:problem:validation-failed"])
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldErrorOut]


class HealthOut(BaseModel):
    model_config = _RESPONSE
    status: Literal["ok"]


class CheckOut(BaseModel):
    model_config = _RESPONSE
    ok: bool
    seconds: float
    error: str | None = Field(description="The error's type name; details go to the log.")


class ReadinessOut(BaseModel):
    """`failed` and `checks` only for an ops key: what is down and how it
    failed is for operators, not for whoever can reach the port."""

    model_config = _RESPONSE
    status: Literal["ready", "not ready"]
    failed: list[str] | None = None
    checks: dict[str, CheckOut] | None = None
