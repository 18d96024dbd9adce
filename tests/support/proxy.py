"""A TCP proxy a test controls, to make a real server unreachable on demand.

    proxy = TcpProxy("127.0.0.1", 3306).start()     # listens on proxy.port
    url = f"mysql+pymysql://root@127.0.0.1:{proxy.port}/shop"
    proxy.outage()        # cut every open connection and refuse new ones
    proxy.resume()        # accept again

`cut()` resets every open connection (both sides see ECONNRESET or EOF at
once, as when a server dies or a firewall drops the flow); `refuse()` resets
each new connection right after accepting it, which a client sees as a
refused or reset connection within milliseconds, like a server that is down.
The listening socket itself stays open, so no other process can take the port
while the "server" is away. Each connection is pumped by two threads: fine for
the few dozen connections a test opens."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from tests.support.processes import LOCALHOST

_BUFFER = 64 * 1024


@dataclass
class ProxyStats:
    accepted: int = 0  # connections forwarded to the upstream
    refused: int = 0  # connections reset at once while refusing
    cut: int = 0  # open connections reset by cut()


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self._closed = False
        self._lock = threading.Lock()

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_BUFFER)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            self.close(reset=False)

    def close(self, *, reset: bool) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for sock in (self.client, self.upstream):
            if reset:
                _reset(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _reset(sock: socket.socket) -> None:
    """Make close() send a RST instead of a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class TcpProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = LOCALHOST,
        listen_port: int = 0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._connect_timeout_s = connect_timeout_s
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((listen_host, listen_port))
        self._listener.listen(128)
        self._listener.settimeout(0.1)
        self.host: str = listen_host
        self.port: int = self._listener.getsockname()[1]
        self.stats = ProxyStats()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._refusing = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def refusing(self) -> bool:
        return self._refusing

    def start(self) -> Self:
        self._thread.start()
        return self

    def refuse(self) -> None:
        """Reset every new connection at once (existing ones are left alone)."""
        self._refusing = True

    def cut(self) -> int:
        """Reset every open connection; returns how many were cut."""
        with self._lock:
            links, self._links = self._links, set()
            self.stats.cut += len(links)
        for link in links:
            link.close(reset=True)
        return len(links)

    def outage(self) -> int:
        """The server "goes away": refuse new connections and cut the open ones."""
        self.refuse()
        return self.cut()

    def resume(self) -> None:
        """Forward new connections again."""
        self._refusing = False

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._listener.close()
        self.cut()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._refusing:
                self.stats.refused += 1
                _reset(client)
                client.close()
                continue
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=self._connect_timeout_s)
        except OSError:
            _reset(client)
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, upstream)
        with self._lock:
            if self._refusing:  # an outage began while this one was connecting
                link.close(reset=True)
                self.stats.refused += 1
                return
            self._links.add(link)
            self.stats.accepted += 1
        threading.Thread(target=self._run, args=(link,), daemon=True).start()
        link.pump(client, upstream)

    def _run(self, link: _Link) -> None:
        try:
            link.pump(link.upstream, link.client)
        finally:
            with self._lock:
                self._links.discard(link)
