"""A local webhook receiver that records every notification it is sent, so a
test can count sends per order (ORDERFLOW_NOTIFY_URL=http://127.0.0.1:PORT/)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.support.processes import LOCALHOST


class WebhookRecorder:
    def __init__(self, host: str = LOCALHOST) -> None:
        recorder = self
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                recorder._record({"idempotency_key": self.headers.get("Idempotency-Key"), **body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per notification would drown the test's output

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sends(self) -> Counter[tuple[str, str]]:
        """How many notifications each (order id, status) received: an order
        completed then cancelled is notified of each, once."""
        with self._lock:
            return Counter((str(r.get("order_id")), str(r.get("status"))) for r in self.requests)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
