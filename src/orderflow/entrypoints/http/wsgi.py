"""The WSGI entry for production servers: `orderflow.entrypoints.http.wsgi:create_wsgi_app`
(a factory, called once per server process, so each process has its own pools)."""

from __future__ import annotations

import atexit

from flask import Flask

from orderflow.bootstrap import bootstrap
from orderflow.entrypoints.http.app import create_app


def create_wsgi_app() -> Flask:
    orderflow = bootstrap()  # ORDERFLOW_* environment; one /metrics across processes
    atexit.register(orderflow.close)
    return create_app(orderflow)
