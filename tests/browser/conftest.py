"""The dashboard in a real headless Chromium (Debian's package, driven by
Playwright for Python), against `orderflow serve` in its own process.

Chromium comes from the system (/usr/bin/chromium, `apt-get install -y
chromium`; ORDERFLOW_TEST_CHROMIUM names another binary); Playwright never
downloads a browser here. A Chromium that is missing or does not start FAILS
every browser test: they never skip.

Screenshots go to artifacts/ at the repository root."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from tests.support.processes import LOCALHOST, Service, free_port, spawn_server
from tests.support.stack import UNTHROTTLED_ENV

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "artifacts"
ORDERFLOW = str(Path(sys.executable).with_name("orderflow"))
CHROMIUM = os.environ.get("ORDERFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}
# Long enough that the order page shows the order unfinished before it
# completes, so the test sees the status change without a reload.
PROCESSING_DELAY_MS = 1500


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


@dataclass
class Shop:
    """`orderflow serve` with a data directory of its own, and an ops key
    (made with `orderflow keys create`) the tests read orders with."""

    base: str
    database: Path
    service: Service = field(repr=False)
    ops_key: str = field(default="", repr=False)

    def api(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Bearer {self.ops_key}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post(self, path: str, body: object) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def remember(self, page: Page, placed: dict[str, Any]) -> None:
        """Keep a 201 body in the page's recent orders, as the checkout does."""
        page.goto(self.base + "/#/track")
        page.evaluate(
            """(order) => {
                const key = "orderflow.orders.v1";
                const known = JSON.parse(localStorage.getItem(key) ?? "[]");
                localStorage.setItem(key, JSON.stringify([order, ...known]));
            }""",
            {k: placed[k] for k in ("id", "total", "created_at", "access_token")},
        )

    def order_count(self) -> int:
        """Straight from the SQLite file: what the server stored, whatever it said."""
        with sqlite3.connect(self.database) as connection:
            (count,) = connection.execute("SELECT count(*) FROM orders").fetchone()
        return int(count)


def running_shop(database: Path, environment: Mapping[str, str]) -> Iterator[Shop]:
    """`orderflow serve` on a free port of 127.0.0.1, configured by
    `environment` alone: no ORDERFLOW_* or OTEL_* variable of the test runner
    reaches it, so the server is exactly what the test says."""
    inherited = [name for name in os.environ if name.startswith(("ORDERFLOW_", "OTEL_"))]
    clean_env = {name: value for name, value in os.environ.items() if name not in inherited}
    port = free_port()
    service = spawn_server(
        "orderflow-serve",
        [
            "env",
            *(f"--unset={name}" for name in inherited),
            *(f"{name}={value}" for name, value in environment.items()),
            ORDERFLOW,
            "serve",
            "--host",
            LOCALHOST,
            "--port",
            str(port),
        ],
        host=LOCALHOST,
        port=port,
        url=f"http://{LOCALHOST}:{port}",
        timeout_s=30,
        die_with_parent=True,
    )
    try:
        created = subprocess.run(
            [ORDERFLOW, "keys", "create", "--name", "browser-tests", "--role", "ops"],
            env={**clean_env, **environment},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        yield Shop(service.url, database, service, created.stdout.strip().splitlines()[-1])
    finally:
        service.stop()


@pytest.fixture(scope="session")
def shop() -> Iterator[Shop]:
    database = Path(tempfile.mkdtemp(prefix="orderflow-browser-")) / "orderflow.sqlite3"
    yield from running_shop(
        database,
        {
            "ORDERFLOW_DATABASE_URL": f"sqlite:///{database}",
            "ORDERFLOW_BROKER_URL": "memory://",
            "ORDERFLOW_CACHE_URL": "memory://",
            "ORDERFLOW_NOTIFY_URL": "log://",
            "ORDERFLOW_PROCESSING_DELAY_MS": str(PROCESSING_DELAY_MS),
            # The dashboard places its orders anonymously, all from 127.0.0.1.
            **UNTHROTTLED_ENV,
        },
    )


@pytest.fixture
def demo_shop() -> Iterator[Shop]:
    """`orderflow serve` as `make serve` runs it: no configuration at all.
    Only the user's data directory (XDG_DATA_HOME, where the default database
    lives) is a fresh temporary one, so the demo starts as on a new machine."""
    data_home = Path(tempfile.mkdtemp(prefix="orderflow-demo-"))
    yield from running_shop(
        data_home / "orderflow" / "orderflow.sqlite3", {"XDG_DATA_HOME": str(data_home)}
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
            "or set ORDERFLOW_TEST_CHROMIUM; browser tests never skip",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}", pytrace=False)
        yield chromium
        chromium.close()


@dataclass
class PageProblems:
    """Uncaught errors and Content-Security-Policy violations seen by a page."""

    errors: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(f"CSP: {message.text}")

    def uncaught(self, error: PlaywrightError) -> None:
        self.errors.append(f"uncaught: {error}")


def browser_tab(browser: Browser, viewport: ViewportSize, problems: PageProblems) -> Iterator[Page]:
    """A page in a fresh context (empty cart, nothing stored); at the end, no
    uncaught error and no CSP violation may have happened in it."""
    # Reduced motion: the drawer appears at once, so boxes and screenshots are stable.
    context: BrowserContext = browser.new_context(viewport=viewport, reduced_motion="reduce")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.on("console", problems.console)
    tab.on("pageerror", problems.uncaught)
    yield tab
    context.close()
    assert problems.errors == []


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, page_problems: PageProblems) -> Iterator[Page]:
    """Desktop size."""
    yield from browser_tab(browser, DESKTOP, page_problems)


@pytest.fixture
def phone(browser: Browser, page_problems: PageProblems) -> Iterator[Page]:
    """375 x 812, an iPhone's CSS viewport."""
    yield from browser_tab(browser, PHONE, page_problems)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
