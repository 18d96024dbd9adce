"""The shop dashboard: one HTML page at `/` and its static files under
`/assets/`, plain HTML, CSS and ES modules shipped as package data (no build
step). The page talks to the JSON API like any other client.

Its responses carry a Content-Security-Policy that allows only this origin:
no inline script or style, no third-party anything, so an injected string
cannot run even if a view forgot to escape it."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

blueprint = Blueprint(
    "dashboard",
    __name__,
    static_folder=STATIC_DIR,
    static_url_path="/assets",
)


@blueprint.get("/")
def index() -> Response:
    # Revalidated on every load (ETag): without a build step the asset names
    # carry no content hash, so nothing may be cached blindly.
    return send_from_directory(HERE, "index.html", mimetype="text/html")


@blueprint.after_request
def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def register(app: Flask) -> None:
    app.register_blueprint(blueprint)
