"""The configured quantity caps: ORDERFLOW_MAX_LINE_QUANTITY units on one
line, ORDERFLOW_MAX_ORDER_QUANTITY in a whole order. Checked after the
schema (whose bound, MAX_LINE_QUANTITY, is the highest a line cap may be
set to), before anything is stored: one order cannot take a product's
whole stock, and a client cannot empty the shop with a few requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orderflow.entrypoints.http.context import current_orderflow
from orderflow.entrypoints.http.problems import FieldError, unprocessable


def check_quantity_caps(
    quantities: Sequence[int], *, line_field: Callable[[int], str], order_field: str
) -> None:
    """422 naming each line over the line cap (`line_field(index)`) and
    `order_field` when the lines add up past the order cap."""
    settings = current_orderflow().settings
    line_cap, order_cap = settings.max_line_quantity, settings.max_order_quantity
    errors = [
        FieldError(line_field(index), f"must be at most {line_cap}")
        for index, quantity in enumerate(quantities)
        if quantity > line_cap
    ]
    if sum(quantities) > order_cap:
        errors.append(FieldError(order_field, f"must add up to at most {order_cap} units"))
    if errors:
        raise unprocessable(errors, "the order asks for more units than one order may hold")
