"""Helpers that drive the in-memory pipeline by hand: relay, then worker."""

from __future__ import annotations

from orderflow import Orderflow
from orderflow.entrypoints.runtime import build_worker
from orderflow.entrypoints.worker import Worker


def drain(app: Orderflow, worker: Worker | None = None) -> None:
    """Relay the outbox and run the worker until nothing is left to do."""
    own = worker is None
    worker = worker or build_worker(app, poll_timeout_s=0.01)
    try:
        while True:
            moved = app.relay.drain_once()
            handled = worker.run_once()
            if not moved and not handled:
                return
    finally:
        if own:
            worker.close()
