"""Privacy (docs/SECURITY.md): logs carry order ids, never a customer's email
or name, through the whole embedded flow; notification text holds what the
customer typed only as bounded single lines of plain text."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import orderflow
from orderflow import Orderflow
from orderflow.application.notifications import (
    MAX_ADDRESS_CHARS,
    MAX_NAME_CHARS,
    notification_for,
)
from orderflow.domain.model import Customer, Order, OrderLine, OrderStatus, PaymentMethod
from orderflow.entrypoints.http.app import create_app
from tests.unit.http.support import CATALOG, UNTHROTTLED, owner_of, valid_order
from tests.unit.journey import drain

EMAIL = "grace.hopper@example.com"
NAME = "Grace Brewster Hopper"
ADDRESS = "1 Cobol Court, Arlington"


@pytest.fixture
def flow() -> Iterator[Orderflow]:
    instance = orderflow.bootstrap(database_url="memory://", notify_url="log://", **UNTHROTTLED)
    instance.catalog.upsert_many(CATALOG)
    yield instance
    instance.close()


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Each record's message and every attribute a JSON formatter would write."""
    return "\n".join(f"{record.getMessage()} {vars(record)!r}" for record in records)


def test_placing_processing_notifying_and_cancelling_logs_no_email_or_name(
    flow: Orderflow, caplog: pytest.LogCaptureFixture
) -> None:
    client = create_app(flow).test_client()
    customer = {"name": NAME, "email": EMAIL, "address": ADDRESS}
    caplog.set_level(logging.DEBUG)

    placed = client.post("/api/orders", json=valid_order(customer=customer)).get_json()
    second = client.post("/api/orders", json=valid_order(customer=customer)).get_json()
    too_many = [{"product_id": "desk-lamp", "quantity": 4}]  # 3 in stock: it fails
    failing = client.post("/api/orders", json=valid_order(customer=customer, items=too_many))
    client.post("/api/orders", json=valid_order(customer={**customer, "email": "bad"}))  # 422
    client.get(f"/api/orders/{placed['id']}", headers={"Authorization": "Bearer ofk_wrong"})
    cancel = client.post(f"/api/orders/{second['id']}/cancel", headers=owner_of(second), json={})
    assert cancel.status_code == 200
    drain(flow)

    logged = everything_logged(caplog.records)
    notified = [r for r in caplog.records if r.name == "orderflow.notifications"]
    assert len(notified) == 3  # completed, cancelled, failed: the log shows them
    assert placed["id"] in logged and failing.get_json()["id"] in logged
    for secret in (EMAIL, "grace.hopper", NAME, "Hopper", ADDRESS):
        assert secret not in logged


def an_order(name: str, address: str, email: str = EMAIL) -> Order:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return Order(
        id="9b2f3c9e-0d1a-4a43-9a55-1c8e0c4b7c10",
        customer=Customer(name=name, email=email, address=address),
        items=(OrderLine("mouse", 1, Decimal("19.90")),),
        payment_method=PaymentMethod.CARD,
        status=OrderStatus.COMPLETED,
        created_at=now,
        updated_at=now,
    )


def test_customer_fields_go_into_the_text_as_bounded_single_lines() -> None:
    hostile = "Ada\r\nBcc: everyone@example.com\r\n\r\n<b>Click</b>\u202e\u200b\x00 here"
    note = notification_for(an_order(hostile * 20, "Street\nCity " + "x" * 1000))

    greeting = note.body.splitlines()[0]
    assert greeting.startswith("Hello Ada Bcc: everyone@example.com <b>Click</b> here")
    assert len(greeting) <= len("Hello ,") + MAX_NAME_CHARS
    assert greeting.endswith("\u2026,")
    address = note.body.splitlines()[-1]
    assert address.startswith("Street City xxx") and len(address) == MAX_ADDRESS_CHARS
    for unsafe in ("\r", "\x00", "\u202e", "\u200b"):
        assert unsafe not in note.body
    assert "\n" not in note.subject and "\r" not in note.recipient


def test_ordinary_fields_go_into_the_text_unchanged() -> None:
    note = notification_for(an_order("Ada Lovelace", "12 Analytical Street, London"))

    assert note.body.startswith("Hello Ada Lovelace,\n")
    assert "12 Analytical Street, London\n" in note.body
    assert note.recipient == EMAIL
