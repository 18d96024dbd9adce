"""Checking that the HTTP port is free before a server command touches
anything: a taken port is one line, not a migration followed by a traceback."""

from __future__ import annotations

import errno
import socket

import click


def ensure_port_free(host: str, port: int) -> None:
    """Raise a ClickException (one line, exit status 1) when nothing could
    listen on host:port. SO_REUSEADDR as the servers set it: a socket left in
    TIME_WAIT by the previous run does not count as taken, a listener does."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({reason}): "
                "stop what holds it or choose another with --port"
            ) from exc
