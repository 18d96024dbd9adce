from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from orderflow.domain.errors import NotificationFailed
from orderflow.ports.notifier import Notification, Notifier


class SmtpNotifier(Notifier):
    """Sends one email per notification. The Message-ID is derived from the
    notification's identity (order id + status), so a mail system that sees
    the same notification twice can recognise it as a duplicate."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s

    @classmethod
    def from_url(cls, url: str) -> SmtpNotifier:
        """smtp://[user:password@]host:port?from=shop@example.com[&starttls=1]"""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or 25,
            sender=query.get("from", ["orderflow@localhost"])[0],
            username=parts.username,
            password=parts.password,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        )

    def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notification.recipient
        message["Subject"] = notification.subject
        domain = self._sender.rpartition("@")[2] or "orderflow"
        message["Message-ID"] = f"<{notification.order_id}.{notification.status}@{domain}>"
        message.set_content(notification.body)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as client:
                if self._starttls:
                    client.starttls()
                if self._username and self._password:
                    client.login(self._username, self._password)
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # The exception's text may name the recipient (a refused address):
            # the log and the ledger get its type and SMTP code only.
            code = getattr(exc, "smtp_code", None)
            reason = type(exc).__name__ + (f" {code}" if code else "")
            raise NotificationFailed(f"SMTP {self._host}:{self._port}: {reason}") from exc
