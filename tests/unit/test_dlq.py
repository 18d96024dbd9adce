"""`orderflow dlq` on the in-process broker: list what was dead-lettered,
replay it once the cause is fixed (the order then completes), purge it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import pytest
from click.testing import CliRunner
from dependency_injector import providers

from orderflow import Orderflow
from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.adapters.memory.topics import MemoryTopicStore
from orderflow.application.processing import OrderProcessor
from orderflow.domain.events import Event
from orderflow.domain.model import Order, OrderStatus
from orderflow.entrypoints.cli import main
from orderflow.entrypoints.dlq import DeadLetterQueue, dlq_group, parse, position, table
from orderflow.ports.topics import StoredRecord
from tests.unit.conftest import place_command
from tests.unit.journey import drain


class Bug:
    """Makes the processor fail every event with an unforeseen error (a bug
    in a release) until `fixed`: the worker dead-letters such messages."""

    def __init__(self, app: Orderflow) -> None:
        self.fixed = False
        real = app.processor
        bug = self

        class Buggy(OrderProcessor):
            def handle_many(self, events: Sequence[Event]) -> list[Order | None]:
                if not bug.fixed:
                    raise RuntimeError("bug: cannot handle this release's events")
                return super().handle_many(events)

        fields = {f.name: getattr(real, f.name) for f in dataclasses.fields(real)}
        app.container.processor.override(providers.Object(Buggy(**fields)))


def queue_of(app: Orderflow) -> DeadLetterQueue:
    broker = app.container.memory_broker()
    assert isinstance(broker, MemoryBroker)
    return DeadLetterQueue(
        MemoryTopicStore(broker), topics=app.topics, group=dlq_group(app.settings.consumer_group)
    )


@pytest.fixture
def bug(app: Orderflow) -> Bug:
    return Bug(app)


def test_a_dead_letter_is_listed_with_its_key_error_attempts_and_original(
    app: Orderflow, bug: Bug
) -> None:
    placed = app.placement.place(place_command(("mouse", 1)))
    drain(app)

    [entry] = queue_of(app).entries()

    assert entry.key == placed.order["id"]
    assert "RuntimeError: bug" in entry.error
    assert entry.attempts == 1
    assert entry.failed_at is not None
    original = json.loads(entry.original)
    assert original["type"] == "OrderPlaced" and original["key"] == placed.order["id"]
    assert entry.source is not None and entry.source["topic"] == app.topics.orders
    assert entry.to_json()["original_text"] == entry.original.decode()
    assert entry.position in table([entry])


def test_a_replay_after_the_fix_completes_the_order_and_purge_empties_the_list(
    app: Orderflow, bug: Bug
) -> None:
    first = app.placement.place(place_command(("mouse", 1)))
    second = app.placement.place(place_command(("mouse", 2)))
    drain(app)
    queue = queue_of(app)
    assert len(queue.entries()) == 2

    bug.fixed = True
    chosen = queue.select(queue.entries(), keys=[str(first.order["id"])])
    assert queue.replay(chosen) == 1
    drain(app)

    assert app.queries.get(str(first.order["id"])).status is OrderStatus.COMPLETED
    assert app.queries.get(str(second.order["id"])).status is OrderStatus.PENDING
    assert app.catalog.get("mouse").stock == 99
    # A second replay of the same letter changes nothing: idempotent processing.
    queue.replay(chosen)
    drain(app)
    assert app.catalog.get("mouse").stock == 99
    assert len(queue.entries()) == 2  # replay does not purge

    assert queue.purge() == 2
    assert queue.entries() == []


def test_purge_through_an_offset_drops_that_prefix_of_the_partition_only(
    app: Orderflow, bug: Bug
) -> None:
    for quantity in (1, 2, 3, 1, 2, 3):
        app.placement.place(place_command(("mouse", quantity)))
    drain(app)
    queue = queue_of(app)
    entries = queue.entries()
    partition = entries[0].partition
    mine = [e for e in entries if e.partition == partition]

    assert queue.purge({partition: mine[0].offset}) == 1

    left = queue.entries()
    assert len(left) == len(entries) - 1
    assert (mine[0].partition, mine[0].offset) not in {(e.partition, e.offset) for e in left}


def test_a_record_that_is_not_a_dead_letter_is_listed_as_such() -> None:
    entry = parse(StoredRecord(0, 7, "k", b"\xff not json"))
    assert entry.error.startswith("not a dead-letter record")
    assert entry.original == b"\xff not json" and entry.position == "0:7"


@pytest.mark.parametrize("text", ["", "1", "a:1", "1:b", "1:-2", ":"])
def test_a_position_is_partition_colon_offset(text: str) -> None:
    with pytest.raises(ValueError, match="PARTITION:OFFSET"):
        position(text)


def test_the_cli_refuses_the_in_process_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", "memory://")
    monkeypatch.setenv("ORDERFLOW_BROKER_URL", "memory://")
    result = CliRunner().invoke(main, ["dlq", "list"])
    assert result.exit_code == 2
    assert "ORDERFLOW_BROKER_URL=kafka://" in result.output


@pytest.mark.parametrize(
    "args",
    [["replay"], ["purge", "--yes"], ["purge", "--all", "--through", "0:1", "--yes"]],
)
def test_the_cli_wants_to_be_told_what_to_replay_or_purge(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["dlq", *args])
    assert result.exit_code == 2
