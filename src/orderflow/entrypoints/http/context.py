"""What every view needs: the app's Orderflow, and JSON responses with headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from flask import Flask, Response, current_app, jsonify

from orderflow.bootstrap import Orderflow

EXTENSION = "orderflow"


def orderflow_of(app: Flask) -> Orderflow:
    return cast(Orderflow, app.extensions[EXTENSION])


def current_orderflow() -> Orderflow:
    return orderflow_of(current_app)


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
