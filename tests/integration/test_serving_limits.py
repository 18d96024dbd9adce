"""Both HTTP servers as real processes under abuse: `orderflow serve`
(waitress) and `orderflow api` (granian). A declared or streamed body over
the limit is refused with 413 problem+json before it is read; 150 clients
sending their headers slowly do not stop /health and are closed past the
server's timeout; a Host not trusted is 400; malformed HTTP is refused
without echoing it (problem+json from waitress, an empty 400 from granian)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import LOCALHOST, Service, free_port, spawn_server

ORDERFLOW = str(Path(sys.executable).with_name("orderflow"))
DECLARED = 300 * 1024 * 1024
QUICK_S = 3.0  # a refusal or a /health answer takes far less
SLOW_CLIENTS = 150
TRICKLE_S = 2  # the slow clients send a header line a second for this long
# Longer than the trickle, so the slow clients are still open when /health
# is asked, and short enough that the test sees the servers close them.
HEADER_TIMEOUT_S = 4
IDLE_TIMEOUT_S = 3
SHORT_TIMEOUTS = {
    "ORDERFLOW_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "ORDERFLOW_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
}
# granian: the header timeout from the first byte; waitress: the idle timeout
# after the last line, found by a sweep every second; plus slack.
CLOSED_WITHIN_S = max(HEADER_TIMEOUT_S, TRICKLE_S + IDLE_TIMEOUT_S + 1) + 2.0
MARKER = b"MARKER-4f1c"
MALFORMED = (
    b"GARBAGE-" + MARKER + b"\r\n\r\n",
    b"GET /health " + MARKER + b" HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon " + MARKER + b"\r\n\r\n",
)


def _start(name: str, args: list[str], environment: dict[str, str]) -> Service:
    port = free_port()
    environment = {**environment, **SHORT_TIMEOUTS}
    return spawn_server(
        name,
        [
            "env",
            *(f"{key}={value}" for key, value in environment.items()),
            ORDERFLOW,
            *args,
            "--host",
            LOCALHOST,
            "--port",
            str(port),
        ],
        host=LOCALHOST,
        port=port,
        url=f"http://{LOCALHOST}:{port}",
        timeout_s=60,
        die_with_parent=True,
    )


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    database = tmp_path_factory.mktemp("serve") / "orderflow.sqlite3"
    environment = {
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{database}",
        "ORDERFLOW_BROKER_URL": "memory://",
        "ORDERFLOW_CACHE_URL": "memory://",
    }
    with _start("serve", ["serve"], environment) as service:
        yield service


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, kafka_url: str) -> Iterator[Service]:
    database = tmp_path_factory.mktemp("api") / "orderflow.sqlite3"
    environment = {
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{database}",
        "ORDERFLOW_BROKER_URL": kafka_url,
        "ORDERFLOW_CACHE_URL": "memory://",
        "ORDERFLOW_TRUSTED_HOSTS": "localhost,127.0.0.1",
    }
    subprocess.run(
        ["env", *(f"{k}={v}" for k, v in environment.items()), ORDERFLOW, "migrate"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with _start("api", ["api", "--workers", "1"], environment) as service:
        yield service


@pytest.fixture(params=["serve", "api"])
def server(request: pytest.FixtureRequest) -> Service:
    service: Service = request.getfixturevalue(request.param)
    return service


def _port(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


def _rss_kib(service: Service) -> int:
    """The resident memory of the server and its children (granian's worker)."""
    assert service.process is not None
    pids = [str(service.process.pid)]
    children = subprocess.run(
        ["pgrep", "-P", pids[0]], capture_output=True, text=True, check=False
    ).stdout.split()
    total = 0
    for pid in [*pids, *children]:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response read from `sock`."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:])
    }
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def _assert_problem(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body
    assert headers["content-type"].startswith("application/problem+json"), headers
    assert json.loads(body)["status"] == expected


def test_a_declared_300_mb_body_is_refused_before_it_is_read(server: Service) -> None:
    before = _rss_kib(server)
    started = time.monotonic()
    with socket.create_connection((LOCALHOST, _port(server)), timeout=QUICK_S) as sock:
        sock.sendall(
            b"POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(DECLARED).encode() + b"\r\n\r\n" + b'{"x": "' + b"y" * 1024
        )
        status, headers, body = _answer(sock)

    assert time.monotonic() - started < QUICK_S
    _assert_problem(status, headers, body, 413)
    # The answer came with 1 KiB of the 300 MB sent: nothing was spooled,
    # and the process holds no more memory than before.
    assert _rss_kib(server) - before < 20 * 1024


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(server: Service) -> None:
    sent = 0
    stop = threading.Event()
    with socket.create_connection((LOCALHOST, _port(server)), timeout=QUICK_S) as sock:
        sock.sendall(
            b"POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        def stream() -> None:
            nonlocal sent
            chunk = b"%x\r\n%s\r\n" % (65536, b"y" * 65536)
            while not stop.is_set() and sent < DECLARED:
                try:
                    sock.sendall(chunk)
                except OSError:
                    return  # the server closed the connection: refused
                sent += 65536

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        status, headers, body = _answer(sock)
        stop.set()
        streamer.join(QUICK_S)

    _assert_problem(status, headers, body, 413)
    assert sent < 64 * 1024 * 1024, "the server read on long after the limit"


def _assert_health_answers_quickly(server: Service) -> None:
    started = time.monotonic()
    with urllib.request.urlopen(f"{server.url}/health", timeout=QUICK_S) as response:
        assert response.status == 200
    assert time.monotonic() - started < QUICK_S


def _assert_closed_by_the_server(sockets: list[socket.socket], deadline: float) -> None:
    """Each socket reaches end of stream (or a reset) before `deadline`,
    having been sent nothing."""
    for sock in sockets:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            received = sock.recv(65536)
        except ConnectionResetError:
            continue
        except TimeoutError:
            pytest.fail(f"a slow client was still open {CLOSED_WITHIN_S} s after it connected")
        assert received == b"", received


def test_health_answers_while_150_clients_send_their_headers_slowly(server: Service) -> None:
    port = _port(server)
    started = time.monotonic()
    slow = [
        socket.create_connection((LOCALHOST, port), timeout=QUICK_S) for _ in range(SLOW_CLIENTS)
    ]
    try:
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for _ in range(TRICKLE_S):  # a header line each, a second apart: never finished
            time.sleep(1)
            for sock in slow:
                sock.sendall(b"X-Slow: 1\r\n")

        _assert_health_answers_quickly(server)
        # Then they fall silent with their headers unfinished: past the short
        # timeouts the fixtures set (granian's header timeout, waitress's idle
        # timeout), the server has closed every one of them.
        _assert_closed_by_the_server(slow, started + CLOSED_WITHIN_S)
        _assert_health_answers_quickly(server)
    finally:
        for sock in slow:
            sock.close()


def test_a_host_not_trusted_is_400_problem_json(server: Service) -> None:
    with socket.create_connection((LOCALHOST, _port(server)), timeout=QUICK_S) as sock:
        sock.sendall(b"GET //api//products HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        status, headers, body = _answer(sock)

    _assert_problem(status, headers, body, 400)
    assert "location" not in headers
    assert b"evil.example" not in body


def _refusals(service: Service) -> Iterator[tuple[bytes, int, dict[str, str], bytes]]:
    """Each malformed request and the answer `service` gave it."""
    for request in MALFORMED:
        with socket.create_connection((LOCALHOST, _port(service)), timeout=QUICK_S) as sock:
            sock.sendall(request)
            status, headers, body = _answer(sock)
        yield request, status, headers, body


def test_waitress_answers_malformed_http_with_problem_json(serve: Service) -> None:
    for request, status, headers, body in _refusals(serve):
        _assert_problem(status, headers, body, 400)
        assert MARKER not in body, request
        assert all(MARKER.decode() not in value for value in headers.values()), request


def test_granian_answers_malformed_http_with_an_empty_400(api: Service) -> None:
    # granian refuses these itself, before the app sees them, and has no
    # setting to answer otherwise: docs/SECURITY.md says so under API8.
    for request, status, headers, body in _refusals(api):
        assert status == 400, request
        assert body == b"", request
        assert headers.get("content-length") == "0", headers
        assert "content-type" not in headers, headers
        assert all(MARKER.decode() not in value for value in headers.values()), request
