"""The Host header checked against the trusted names before any route runs:
a request naming any other host is answered 400, whatever its path, so no
answer is ever built for a host the operator did not name.

Flask's own TRUSTED_HOSTS is not used: werkzeug cuts each trusted name at
its first colon, so it cannot trust `[::1]` (docs/DECISIONS.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from flask import Flask, request

from orderflow.entrypoints.http.problems import bad_request

LOOPBACK = ("localhost", "127.0.0.1", "[::1]")

_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


def is_trusted(host: str, trusted: Sequence[str]) -> bool:
    """Whether the Host header `host` (a port is ignored) names one of
    `trusted` (lower case; `.example.com` also takes its subdomains)."""
    match = _HOST.fullmatch(host)
    if match is None:
        return False
    name = match.group(1).lower().rstrip(".")
    return any(name == t or (t.startswith(".") and name.endswith(t)) for t in trusted)


def register(app: Flask, trusted: Sequence[str] | None) -> None:
    """Refuse every request whose Host is not in `trusted`; None or empty
    trusts any host."""
    if not trusted:
        return
    names = tuple(name.lower() for name in trusted)

    @app.before_request
    def _trusted_host() -> None:
        if not is_trusted(request.headers.get("Host", ""), names):
            raise bad_request("Host", "is not a host this server answers for")
