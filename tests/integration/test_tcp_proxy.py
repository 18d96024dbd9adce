"""The fault-injection proxy (tests.support.proxy) in front of a real
Redis: it forwards, cuts open connections, refuses new ones, and resumes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.proxy import TcpProxy


@pytest.fixture
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(redis_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy


def client_through(proxy: TcpProxy, redis_url: str) -> redis.Redis:
    db = urlsplit(redis_url).path.lstrip("/") or "0"
    return redis.Redis.from_url(
        f"redis://{proxy.address}/{db}",
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),  # see each failure, no silent reconnect
    )


def test_the_proxy_forwards_to_the_server(proxy: TcpProxy, redis_url: str) -> None:
    client = client_through(proxy, redis_url)
    try:
        client.set("proxy-test", "through")
        assert client.get("proxy-test") == b"through"
    finally:
        client.close()
    assert proxy.stats.accepted >= 1


def test_cut_resets_open_connections_at_once(proxy: TcpProxy, redis_url: str) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(100) == b"+PONG\r\n"

        assert proxy.cut() == 1
        started = time.monotonic()
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b""
        assert time.monotonic() - started < 0.5

    client = client_through(proxy, redis_url)
    try:
        assert client.ping()  # only a cut, no outage: a new connection goes through
    finally:
        client.close()


def test_while_refusing_new_connections_fail_fast_and_resume_works(
    proxy: TcpProxy, redis_url: str
) -> None:
    client = client_through(proxy, redis_url)
    try:
        assert client.ping()
        proxy.outage()
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(redis.ConnectionError):
                client.ping()
            assert time.monotonic() - started < 0.5
        assert proxy.stats.refused >= 2

        proxy.resume()
        assert client.ping()
    finally:
        client.close()


def test_a_refused_raw_connection_reads_a_reset_or_eof(proxy: TcpProxy) -> None:
    proxy.refuse()
    # The reset may come as early as the connect (the proxy accepts and
    # resets at once) or on the first read; either way no byte arrives.
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=1) as sock:
            data = sock.recv(10)
    except (ConnectionResetError, ConnectionRefusedError):
        data = b""
    assert data == b""
