"""The WSGI entry for production servers: `orderflow.entrypoints.http.wsgi:create_wsgi_app`
(a factory, called once per server process, so each process has its own pools)."""

from __future__ import annotations

from multiprocessing.util import Finalize

from flask import Flask

from orderflow.bootstrap import bootstrap
from orderflow.entrypoints.http.app import create_app

# Runs before the interpreter's own exit in the server's process, and in each
# of granian's worker processes, which multiprocessing ends with os._exit:
# atexit handlers never run there, so pools and the Kafka producer would not
# be closed, nor the spans the tracer's batch still holds be exported.
_CLOSE_PRIORITY = 10


def create_wsgi_app() -> Flask:
    orderflow = bootstrap()  # ORDERFLOW_* environment; one /metrics across processes
    Finalize(orderflow, orderflow.close, exitpriority=_CLOSE_PRIORITY)
    return create_app(orderflow)
