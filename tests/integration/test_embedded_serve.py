"""The embedded mode as a new user runs it: `orderflow serve` in its own
process, spoken to over real HTTP, killed with SIGKILL and started again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ORDERFLOW = str(Path(sys.executable).with_name("orderflow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Server:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ORDERFLOW_DATABASE_URL": f"sqlite:///{data_dir / 'orderflow.sqlite3'}",
            "ORDERFLOW_BROKER_URL": "memory://",
            "ORDERFLOW_CACHE_URL": "memory://",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [ORDERFLOW, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if call("GET", f"{self.base}/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("orderflow serve did not start within 30 s")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    instance = Server(tmp_path)
    instance.start()
    yield instance
    instance.stop()


def owner_of(placed: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {placed['access_token']}"}


def wait_for_status(
    base: str, target: str | dict[str, Any], wanted: set[str], within_s: float
) -> dict[str, Any]:
    """Poll until the status is wanted: a path read as it is (the open
    GET /order/<id>), or a placed order read as its owner (its access token)."""
    if isinstance(target, str):
        path, headers = target, {}
    else:
        path, headers = f"/api/orders/{target['id']}", owner_of(target)
    deadline = time.monotonic() + within_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, body = call("GET", f"{base}{path}", headers=headers)
        assert status == 200, body
        if body["status"] in wanted:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{path} still {body.get('status')} after {within_s} s")


def test_the_seed_journey_completes_within_two_seconds(server: Server) -> None:
    status, placed = call("POST", f"{server.base}/order", {"product": "Laptop", "quantity": 1})
    assert status == 201, placed
    assert placed["product"] == "Laptop" and placed["quantity"] == 1
    started = time.monotonic()
    done = wait_for_status(server.base, f"/order/{placed['id']}", {"completed"}, within_s=2.0)
    assert done == {**done, "id": placed["id"], "product": "Laptop", "quantity": 1}
    assert time.monotonic() - started < 2.0


def test_the_full_request_journey_and_search(server: Server) -> None:
    status, found = call("GET", f"{server.base}/api/products?search=lap")
    assert status == 200
    names = {item["name"] for item in found["items"]}
    assert "Laptop" in names
    laptop = next(item for item in found["items"] if item["name"] == "Laptop")
    status, order = call(
        "POST",
        f"{server.base}/api/orders",
        {
            "customer": {"name": "Ada", "email": "ada@example.com", "address": "1 Street"},
            "items": [{"product_id": laptop["id"], "quantity": 2}],
            "payment_method": "paypal",
        },
    )
    assert status == 201, order
    assert order["total"] == str(2 * Decimal(laptop["price"]))
    done = wait_for_status(server.base, order, {"completed"}, 5.0)
    assert done["version"] == 3
    _, after = call("GET", f"{server.base}/api/products/{laptop['id']}")
    assert after["stock"] == laptop["stock"] - 2


def test_an_accepted_order_survives_a_kill_and_is_processed_after_restart(
    tmp_path: Path,
) -> None:
    # A long simulated processing time keeps the order unfinished at the kill.
    slow = Server(tmp_path, ORDERFLOW_PROCESSING_DELAY_MS="60000")
    slow.start()
    try:
        status, placed = call("POST", f"{slow.base}/order", {"product": "Laptop", "quantity": 1})
        assert status == 201
        slow.kill()
    finally:
        slow.stop()
    again = Server(tmp_path)
    again.start()
    try:
        done = wait_for_status(again.base, f"/order/{placed['id']}", {"completed"}, 10.0)
        assert done["id"] == placed["id"]
    finally:
        again.stop()


def test_ten_concurrent_orders_for_three_units(server: Server) -> None:
    _, lamp = call("GET", f"{server.base}/api/products/desk-lamp")
    assert lamp["stock"] == 3

    def place(_: int) -> tuple[int, dict[str, Any]]:
        return call("POST", f"{server.base}/order", {"product": "desk-lamp", "quantity": 1})

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(place, range(10)))
    assert [status for status, _ in results] == [201] * 10
    finals = [
        wait_for_status(server.base, body, {"completed", "failed"}, 10.0) for _, body in results
    ]
    assert sorted(f["status"] for f in finals) == ["completed"] * 3 + ["failed"] * 7
    failures = [f["failure_reason"] for f in finals if f["status"] == "failed"]
    assert all("insufficient stock" in reason for reason in failures)
    assert call("GET", f"{server.base}/api/products/desk-lamp")[1]["stock"] == 0
