"""The SMTP and webhook notifiers against real local servers."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from orderflow.adapters.smtp.notifier import SmtpNotifier
from orderflow.adapters.webhook.notifier import WebhookNotifier
from orderflow.domain.errors import NotificationFailed
from orderflow.ports.notifier import Notification, Notifier
from tests.contracts.notifier_contract import NotifierContract

pytestmark = pytest.mark.integration

NOTE = Notification(
    order_id="4b8f7f55-8d3e-4c5b-9a39-2f0d3f3f9e11",
    status="completed",
    recipient="ada@example.com",
    subject="Your order is confirmed",
    body="Hello Ada",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_an_email_arrives_with_the_notification(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    SmtpNotifier.from_url(f"smtp://127.0.0.1:{port}?from=shop@example.com").send(NOTE)
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["To"] == "ada@example.com"
    assert mail["From"] == "shop@example.com"
    assert mail["Subject"] == "Your order is confirmed"
    assert mail["Message-ID"] == f"<{NOTE.order_id}.completed@example.com>"
    assert mail.get_content_type() == "text/plain"  # never rendered as HTML


class Refusing(Inbox):
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 no such mailbox"


def test_a_refused_recipient_fails_without_naming_the_address() -> None:
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(NotificationFailed) as failure:
            SmtpNotifier.from_url(f"smtp://127.0.0.1:{port}?from=shop@example.com").send(NOTE)
    finally:
        controller.stop()

    assert "SMTPRecipientsRefused" in str(failure.value)
    assert NOTE.recipient not in str(failure.value)


def test_an_unreachable_smtp_server_is_a_notification_failure() -> None:
    with pytest.raises(NotificationFailed):
        SmtpNotifier(host="127.0.0.1", port=free_port(), sender="a@b.c", timeout_s=1).send(NOTE)


def test_a_webhook_receives_json_with_an_idempotency_key() -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((json.loads(body), self.headers.get("Idempotency-Key")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        WebhookNotifier(f"http://127.0.0.1:{server.server_port}/hook").send(NOTE)
    finally:
        server.shutdown()
    assert received == [
        (
            {
                "order_id": NOTE.order_id,
                "status": "completed",
                "recipient": "ada@example.com",
                "subject": "Your order is confirmed",
                "body": "Hello Ada",
            },
            f"{NOTE.order_id}/completed",
        )
    ]


def test_a_webhook_error_status_is_a_notification_failure() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(NotificationFailed):
            WebhookNotifier(f"http://127.0.0.1:{server.server_port}/").send(NOTE)
    finally:
        server.shutdown()


class TestSmtpNotifierContract(NotifierContract):
    @pytest.fixture
    def notifier(self, smtp: tuple[Inbox, int]) -> Notifier:
        return SmtpNotifier.from_url(f"smtp://127.0.0.1:{smtp[1]}?from=shop@example.com")

    @pytest.fixture
    def received(self, smtp: tuple[Inbox, int]) -> Callable[[], list[tuple[str, str]]]:
        def seen() -> list[tuple[str, str]]:
            # The Message-ID carries the notification's identity.
            ids = [str(m["Message-ID"]).strip("<>").split("@")[0] for m in smtp[0].messages]
            return [tuple(i.rsplit(".", 1)) for i in ids]  # type: ignore[misc]

        return seen

    @pytest.fixture
    def unreachable(self) -> Notifier | None:
        return SmtpNotifier(host="127.0.0.1", port=free_port(), sender="a@b.c", timeout_s=1)


class TestWebhookNotifierContract(NotifierContract):
    @pytest.fixture
    def hook(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_port}/hook", received
        server.shutdown()

    @pytest.fixture
    def notifier(self, hook: tuple[str, list[dict[str, Any]]]) -> Notifier:
        return WebhookNotifier(hook[0])

    @pytest.fixture
    def received(
        self, hook: tuple[str, list[dict[str, Any]]]
    ) -> Callable[[], list[tuple[str, str]]]:
        return lambda: [(body["order_id"], body["status"]) for body in hook[1]]

    @pytest.fixture
    def unreachable(self) -> Notifier | None:
        return WebhookNotifier(f"http://127.0.0.1:{free_port()}/", timeout_s=1)
