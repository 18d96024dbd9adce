"""The two HTTP servers and the settings that keep them answering under
abuse (docs/OPERATIONS.md: Serving): waitress for `orderflow serve`, granian
for `orderflow api`.

- Body limit: granian hands the body to the app as a stream and Flask
  refuses a declared length over MAX_CONTENT_LENGTH before reading it;
  waitress reads a whole body before calling the app, so it gets the same
  limit (`max_request_body_size`) and refuses at the headers.
- Slow clients: both read headers without holding an application thread;
  granian closes a connection whose headers take longer than the header
  timeout, waitress one idle longer than the idle timeout, and both accept
  up to max_connections at once (waitress's default of 100 was what 120
  slow clients exhausted)."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from orderflow.config import Settings
from orderflow.entrypoints.http.problems import PROBLEM_JSON, problem_document


class _ProblemErrorTask(ErrorTask):  # type: ignore[misc]
    """waitress's own refusals (a body over the limit, malformed HTTP) as
    problem+json like every other error, instead of its plain text; its
    message is not sent, since it may quote the request."""

    def execute(self) -> None:
        error = self.request.error
        code, reason = int(error.code), str(error.reason)
        detail = (
            f"the request body exceeds {self.channel.server.adj.max_request_body_size} bytes"
            if code == 413
            else "the request is not valid HTTP"
        )
        slug = reason.lower().replace(" ", "-")
        document = problem_document(code, slug, reason, detail, "")
        body = json.dumps(document, separators=(",", ":")).encode()
        self.status = f"{code} {reason}"
        self.response_headers.append(("Content-Type", PROBLEM_JSON))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _ProblemChannel(HTTPChannel):  # type: ignore[misc]
    error_task_class = _ProblemErrorTask


def run_waitress(app: Flask, *, host: str, port: int, threads: int, settings: Settings) -> None:
    """Serve `app` until interrupted."""
    sockets: dict[int, Any] = {}
    server = create_server(
        app,
        map=sockets,
        host=host,
        port=port,
        threads=threads,
        ident="orderflow",
        max_request_body_size=settings.max_body_bytes,
        connection_limit=settings.max_connections,
        channel_timeout=settings.idle_timeout_s,
        cleanup_interval=max(1, settings.idle_timeout_s // 2),
        # poll(), not select(): select cannot watch descriptors past 1024.
        asyncore_use_poll=True,
    )
    for listener in sockets.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = _ProblemChannel
    server.run()


def run_granian(*, host: str, port: int, workers: int, threads: int, settings: Settings) -> None:
    """Serve the WSGI factory in `workers` processes of `threads` request
    threads each until interrupted."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    Granian(
        "orderflow.entrypoints.http.wsgi:create_wsgi_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        # Per process: requests in flight at once; more wait unread.
        backpressure=settings.max_connections,
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout_s * 1000)),
        log_access=False,
    ).serve()
