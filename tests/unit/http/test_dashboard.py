"""The dashboard as the server ships it: the page at `/`, its headers, and
every file it loads (stylesheet, icons, each ES module and each module's
imports) resolving with the right content type. What it does in a browser is
tested in tests/browser."""

from __future__ import annotations

import glob
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from posixpath import dirname, normpath

import pytest
from flask.testing import FlaskClient

from orderflow.entrypoints.http import dashboard

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "orderflow"
IMPORT = re.compile(r"""(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""")
EXTERNAL_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


class PageParts(HTMLParser):
    """Collects what index.html loads, and anything a strict CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"{tag} {name}")
            if name in ("src", "href") and value and not value.startswith("#"):
                self.references.append(value)
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            if "src" not in values:
                self.inline.append("<script> without src")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script text")


def page(client: FlaskClient) -> PageParts:
    parts = PageParts()
    parts.feed(client.get("/").get_data(as_text=True))
    return parts


def static_files() -> list[Path]:
    return sorted(path for path in dashboard.STATIC_DIR.rglob("*") if path.is_file())


def url_of(path: Path) -> str:
    return "/assets/" + path.relative_to(dashboard.STATIC_DIR).as_posix()


def test_the_root_serves_the_shop_page_as_html(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.mimetype_params.get("charset") == "utf-8"
    text = response.get_data(as_text=True)
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert '<html lang="en">' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert '<script type="module" src="assets/js/main.js"></script>' in text


def test_the_page_is_revalidated_on_every_load(client: FlaskClient) -> None:
    first = client.get("/")
    assert "no-cache" in first.headers["Cache-Control"]
    assert first.headers["ETag"]

    again = client.get("/", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/", "/assets/js/main.js", "/assets/css/shop.css"])
def test_dashboard_responses_allow_only_their_own_origin(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers

    directives = headers["Content-Security-Policy"].split(";")
    policy = dict(directive.strip().split(" ", 1) for directive in directives)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def test_the_page_has_no_inline_script_or_style(client: FlaskClient) -> None:
    assert page(client).inline == []


def test_everything_the_page_references_is_served(client: FlaskClient) -> None:
    references = page(client).references
    assert "assets/css/shop.css" in references
    assert "assets/js/main.js" in references

    for reference in references:
        response = client.get("/" + reference)
        assert response.status_code == 200, reference


@pytest.mark.parametrize("path", static_files(), ids=lambda path: url_of(path))
def test_each_static_file_is_served_with_its_content_type(client: FlaskClient, path: Path) -> None:
    response = client.get(url_of(path))

    assert response.status_code == 200
    assert response.mimetype == CONTENT_TYPES[path.suffix]
    assert response.data == path.read_bytes()


def test_every_module_import_resolves_to_a_served_module(client: FlaskClient) -> None:
    """What the browser would fetch: a broken relative import breaks the whole
    shop, and no build step would have caught it."""
    seen: set[str] = set()
    pending = ["/assets/js/main.js"]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype == "text/javascript", url
        for specifier in IMPORT.findall(response.get_data(as_text=True)):
            assert specifier.startswith("./") or specifier.startswith("../"), (url, specifier)
            pending.append(normpath(f"{dirname(url)}/{specifier}"))
    modules = {url_of(path) for path in static_files() if path.suffix == ".js"}
    assert seen == modules  # and no module is left unused


def test_the_shop_loads_nothing_from_other_origins() -> None:
    for path in [dashboard.HERE / "index.html", *static_files()]:
        text = path.read_text().replace(SVG_NAMESPACE, "")
        assert EXTERNAL_URL.findall(text) == [], path


def test_a_missing_asset_is_a_problem_404(client: FlaskClient) -> None:
    response = client.get("/assets/js/nothing-here.js")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_page_is_read_only(client: FlaskClient) -> None:
    response = client.post("/")

    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_the_api_routes_around_the_page_are_unchanged(client: FlaskClient) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    products = client.get("/api/products?search=lap")
    assert products.status_code == 200
    assert products.mimetype == "application/json"
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/order/not-a-uuid").status_code == 400


def test_a_wheel_carries_every_dashboard_file() -> None:
    """setuptools expands package-data patterns with recursive glob from the
    package directory; a file no pattern matches is left out of the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["orderflow"]
    packaged = {
        (PACKAGE / match).resolve()
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=PACKAGE, recursive=True)
    }
    shipped = {dashboard.HERE / "index.html", *static_files()}
    assert {path.resolve() for path in shipped} <= packaged
