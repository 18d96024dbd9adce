"""`kafka://host:port[,host:port]` URLs, as in ORDERFLOW_BROKER_URL."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORT = 9092


def bootstrap_servers(url: str) -> list[str]:
    """The `host:port` bootstrap list of a kafka:// URL; a host without a port
    gets 9092. Raises ValueError for any other scheme or an empty host list."""
    parts = urlsplit(url)
    if parts.scheme != "kafka":
        raise ValueError(f"not a kafka:// URL: {url!r}")
    servers = [_with_port(item.strip()) for item in parts.netloc.split(",") if item.strip()]
    if not servers:
        raise ValueError(f"kafka URL names no broker: {url!r}")
    return servers


def _with_port(server: str) -> str:
    if server.startswith("["):  # an IPv6 literal: [::1] or [::1]:9092
        _, _, rest = server.partition("]")
        if not rest:
            return f"{server}:{DEFAULT_PORT}"
        port = rest.removeprefix(":")
    elif ":" in server:
        port = server.rpartition(":")[2]
    else:
        return f"{server}:{DEFAULT_PORT}"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in kafka broker address {server!r}")
    return server
