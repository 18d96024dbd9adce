"""The API's routes, one module per resource; `register` adds them all."""

from __future__ import annotations

from flask import Flask

from orderflow.entrypoints.http.routes import operations, orders, products, short_form, streams


def register(app: Flask) -> None:
    for module in (orders, streams, products, short_form, operations):
        module.register(app)
