"""An ops key may not place orders: the placing use case refuses its
commands (NotPermitted, a 403 over HTTP) before anything is read or stored,
and the other commands of the same batch are placed as if alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from orderflow import Orderflow
from orderflow.domain.errors import NotPermitted
from orderflow.domain.identity import Principal, PrincipalKind, Role
from orderflow.ports.placement import PlacementResult
from tests.unit.conftest import place_command
from tests.unit.http.support import make_flow

OPS = Principal(PrincipalKind.API_KEY, "k-ops", Role.OPS)
SHOP = Principal(PrincipalKind.API_KEY, "k-shop", Role.SHOP)


@pytest.fixture
def app() -> Iterator[Orderflow]:
    instance = make_flow()  # memory, with the HTTP tests' catalog
    yield instance
    instance.close()


def test_an_ops_command_is_refused_and_the_rest_of_its_batch_is_placed(app: Orderflow) -> None:
    commands = [
        replace(place_command(("mouse", 1), key="ops-1"), principal=OPS),
        replace(place_command(("mouse", 1), key="shop-1"), principal=SHOP),
        place_command(("mouse", 2)),
        replace(place_command(("mouse", 1)), principal=OPS),
    ]

    outcomes = app.placement.place_all(commands)

    assert [type(outcome) for outcome in outcomes] == [
        NotPermitted,
        PlacementResult,
        PlacementResult,
        NotPermitted,
    ]
    with app.uow_factory() as uow:
        assert uow.orders.list_owned(owner="key:k-ops", limit=10, offset=0) == []
        assert len(uow.orders.list_owned(owner="key:k-shop", limit=10, offset=0)) == 1
        assert uow.outbox.pending_count() == 2  # the two placed orders' events


def test_a_batch_of_ops_commands_alone_touches_no_store(app: Orderflow) -> None:
    (outcome,) = app.placement.place_all([replace(place_command(("mouse", 1)), principal=OPS)])

    assert isinstance(outcome, NotPermitted)
    with app.uow_factory() as uow:
        assert uow.outbox.pending_count() == 0
