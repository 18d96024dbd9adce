"""POST /api/orders, GET /api/orders/<id>, POST /api/orders/<id>/cancel: happy paths."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient

from orderflow import Orderflow
from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.model import OrderStatus
from orderflow.entrypoints.http.schemas import (
    CancelledOrderOut,
    OrderEventsOut,
    OrderOut,
    PlacedOrderOut,
)
from tests.unit.http.support import (
    Stored,
    api_key,
    assert_problem,
    owner_of,
    place,
    valid_order,
    without_token,
)
from tests.unit.journey import process


def test_placing_an_order_answers_201_with_the_order_and_its_location(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    response = client.post("/api/orders", json=valid_order())

    assert response.status_code == 201
    order = PlacedOrderOut.model_validate(response.get_json())
    assert response.headers["Location"] == f"/api/orders/{order.id}"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Idempotent-Replayed" not in response.headers
    assert order.access_token is not None and order.access_token.startswith("oft_")
    assert str(uuid.UUID(order.id, version=4)) == order.id
    assert order.status == "pending"
    assert order.total == "1038.80"  # 999.00 + 2 x 19.90, prices from the catalog
    assert [line.unit_price for line in order.items] == ["999.00", "19.90"]
    assert order.payment_method == "card"
    assert stored() == Stored(orders=1, outbox=1, idempotency_keys=0)


def test_the_location_of_a_new_order_reads_it_back(client: FlaskClient) -> None:
    response = client.post("/api/orders", json=valid_order())

    assert response.get_data().endswith(b"}\n")  # one JSON document and a newline
    again = client.get(response.headers["Location"], headers=owner_of(response.get_json()))
    assert again.status_code == 200
    assert again.get_json()["id"] == response.get_json()["id"]


class Raising:
    """A placement that fails as a given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def place(self, command: object) -> object:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (StorageUnavailable("database and broker down (injected)"), 503),
        (RuntimeError("a bug (injected)"), 500),
    ],
)
def test_a_failing_placement_is_a_problem_and_stores_nothing(
    client: FlaskClient,
    flow: Orderflow,
    stored: Callable[[], Stored],
    error: Exception,
    status: int,
) -> None:
    flow.container.placement.override(Raising(error))
    before = stored()
    try:
        response = client.post("/api/orders", json=valid_order())
    finally:
        flow.container.placement.reset_override()

    problem = assert_problem(response, status)
    assert "injected" not in problem.detail
    assert ("Retry-After" in response.headers) == (status == 503)
    assert stored() == before


def test_response_keeps_the_documented_field_order(client: FlaskClient) -> None:
    response = client.post("/api/orders", json=valid_order())

    assert list(response.get_json()) == list(PlacedOrderOut.model_fields)


def test_strings_are_trimmed_and_unicode_is_kept(client: FlaskClient) -> None:
    customer = {"name": "  Zoë Ñandú 日本 👩‍💻 ", "email": "zoe@example.org", "address": "Straße 1"}

    response = client.post("/api/orders", json=valid_order(customer=customer))

    assert response.status_code == 201
    assert response.get_json()["customer"]["name"] == "Zoë Ñandú 日本 👩‍💻"


@pytest.mark.parametrize("method", ["card", "paypal", "bank_transfer", "cash_on_delivery"])
def test_every_payment_method_is_accepted(client: FlaskClient, method: str) -> None:
    response = client.post("/api/orders", json=valid_order(payment_method=method))

    assert response.status_code == 201
    assert response.get_json()["payment_method"] == method


def test_json_with_a_utf8_charset_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        "/api/orders",
        data=client.application.json.dumps(valid_order()),
        content_type="application/json; charset=UTF-8",
    )

    assert response.status_code == 201


def test_an_order_can_be_read_back(client: FlaskClient) -> None:
    placed = place(client)

    response = client.get(f"/api/orders/{placed['id']}", headers=owner_of(placed))

    assert response.status_code == 200
    assert response.get_json() == without_token(placed)


def test_an_upper_case_id_finds_the_same_order(client: FlaskClient) -> None:
    placed = place(client)

    response = client.get(f"/api/orders/{str(placed['id']).upper()}", headers=owner_of(placed))

    assert response.status_code == 200
    assert response.get_json()["id"] == placed["id"]


def test_an_unknown_order_is_404(client: FlaskClient, flow: Orderflow) -> None:
    response = client.get(f"/api/orders/{uuid.uuid4()}", headers=api_key(flow))

    assert_problem(response, 404, "id")


@pytest.mark.parametrize(
    "bad_id",
    [
        "12345",
        "not-a-uuid",
        "%24gt",  # $gt
        "%7B%22%24gt%22%3A%20%22%22%7D",  # {"$gt": ""}
        "0b6f3c1e8a1d4c569a8e2f0d3c4b5a69",  # no hyphens
        "%7B0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69%7D",  # braces
        "urn:uuid:0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69",
        "0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a6",  # one digit short
        "0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69%00",
        "%C3%A9" * 12,
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/orders/{}", "/api/orders/{}/cancel", "/api/orders/{}/events", "/order/{}"]
)
def test_a_malformed_order_id_is_400(
    client: FlaskClient, flow: Orderflow, stored: Callable[[], Stored], bad_id: str, path: str
) -> None:
    place(client)
    headers = api_key(flow)
    before = stored()
    method = client.post if path.endswith("cancel") else client.get

    response = method(path.format(bad_id), headers=headers, json={})

    assert_problem(response, 400, "id")
    assert stored() == before


def test_a_pending_order_can_be_cancelled(client: FlaskClient, flow: Orderflow) -> None:
    placed = place(client)

    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})

    assert response.status_code == 200
    order = CancelledOrderOut.model_validate(response.get_json())
    assert order.status == "cancelled"
    assert order.version == 2
    assert order.restocked == []
    assert flow.queries.get(str(placed["id"])).status == "cancelled"


def test_a_completed_order_can_be_cancelled_and_its_stock_comes_back(
    client: FlaskClient, flow: Orderflow
) -> None:
    stock = flow.catalog.get("laptop-14").stock
    placed = place(client)
    process(flow.processor, placed)
    assert flow.catalog.get("laptop-14").stock < stock

    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})

    assert response.status_code == 200
    order = CancelledOrderOut.model_validate(response.get_json())
    assert order.status == "cancelled"
    assert [(line.product_id, line.quantity) for line in order.restocked] == [
        (line.product_id, line.quantity) for line in OrderOut.model_validate(order).items
    ]
    assert flow.catalog.get("laptop-14").stock == stock


def test_cancel_takes_an_empty_json_body(client: FlaskClient) -> None:
    placed = place(client)

    response = client.post(
        f"/api/orders/{placed['id']}/cancel",
        headers=owner_of(placed),
        content_type="application/json",
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("text/plain", "{}"), ("application/x-www-form-urlencoded", "a=1"), (None, "")],
)
def test_a_cancel_that_is_not_json_is_415_and_changes_nothing(
    client: FlaskClient, stored: Callable[[], Stored], content_type: str | None, data: str
) -> None:
    placed = place(client)
    before = stored()

    response = client.post(
        f"/api/orders/{placed['id']}/cancel",
        headers=owner_of(placed),
        data=data,
        content_type=content_type,
    )

    assert_problem(response, 415, "Content-Type")
    assert stored() == before


def test_a_cancel_with_fields_is_422(client: FlaskClient) -> None:
    placed = place(client)

    response = client.post(
        f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={"reason": "x"}
    )

    assert_problem(response, 422, "body")


def test_cancelling_twice_is_409_and_changes_nothing(
    client: FlaskClient, stored: Callable[[], Stored]
) -> None:
    placed = place(client)
    client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})
    before = stored()

    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})

    problem = assert_problem(response, 409, "status")
    assert "cancelled" in problem.errors[0].message
    assert stored() == before


def test_cancelling_a_failed_order_is_409_and_changes_nothing(
    client: FlaskClient, flow: Orderflow, stored: Callable[[], Stored]
) -> None:
    placed = place(client)
    with flow.uow_factory() as uow:
        order = uow.orders.get_for_update(str(placed["id"]))
        assert order is not None
        order.start_processing(order.updated_at)
        order.fail("insufficient stock", order.updated_at)
        uow.orders.save(order)
        uow.commit()
    before = stored()

    response = client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})

    problem = assert_problem(response, 409, "status")
    assert "failed" in problem.errors[0].message
    assert stored() == before


def test_cancelling_an_unknown_order_is_404(client: FlaskClient) -> None:
    someone = owner_of(place(client))

    response = client.post(f"/api/orders/{uuid.uuid4()}/cancel", headers=someone, json={})

    assert_problem(response, 404, "id")


def iso_utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


def test_the_timeline_lists_every_transition_oldest_first(
    client: FlaskClient, flow: Orderflow
) -> None:
    completed, failed = place(client), place(client)
    with flow.uow_factory() as uow:  # one laptop left: the second order fails
        laptop = uow.products.get("laptop-14")
        assert laptop is not None
        laptop.stock = 1
        uow.products.save(laptop)
        uow.commit()
    process(flow.processor, completed)
    process(flow.processor, failed)

    ok = client.get(f"/api/orders/{completed['id']}/events", headers=owner_of(completed))
    bad = client.get(f"/api/orders/{failed['id']}/events", headers=owner_of(failed))

    assert ok.status_code == bad.status_code == 200
    body = ok.get_json()
    assert list(body) == ["order_id", "events"]
    assert body["order_id"] == completed["id"]
    assert [e["status"] for e in body["events"]] == ["pending", "processing", "completed"]
    assert all(list(e) == ["status", "at", "reason"] for e in body["events"])
    assert all(e["reason"] is None for e in body["events"])
    times = [iso_utc(e["at"]) for e in body["events"]]
    assert times == sorted(times)
    assert times[0] == datetime.fromisoformat(str(completed["created_at"]))
    timeline = OrderEventsOut.model_validate(bad.get_json())
    assert [e.status for e in timeline.events] == ["pending", "processing", "failed"]
    assert timeline.events[-1].reason is not None
    assert "insufficient stock" in timeline.events[-1].reason
    order = client.get(f"/api/orders/{failed['id']}", headers=owner_of(failed)).get_json()
    assert order["history"] == bad.get_json()["events"]


def test_a_cancelled_order_has_a_two_step_timeline(client: FlaskClient) -> None:
    placed = place(client)
    client.post(f"/api/orders/{placed['id']}/cancel", headers=owner_of(placed), json={})

    response = client.get(f"/api/orders/{placed['id']}/events", headers=owner_of(placed))

    events = response.get_json()["events"]
    assert [(e["status"], e["reason"]) for e in events] == [
        (OrderStatus.PENDING.value, None),
        (OrderStatus.CANCELLED.value, None),
    ]


def test_the_timeline_of_an_unknown_order_is_404(client: FlaskClient, flow: Orderflow) -> None:
    response = client.get(f"/api/orders/{uuid.uuid4()}/events", headers=api_key(flow))

    assert_problem(response, 404, "id")
