"""`orderflow dlq` on the in-process broker: list what was dead-lettered,
replay it once the cause is fixed (the order then completes), purge it.

The poison here is what the DLQ is for: a message no worker of this release
can process (a newer major schema version). A bug in processing is not
dead-lettered (tests/unit/test_worker_bugs.py)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from click.testing import CliRunner
from dependency_injector import providers

from orderflow import Orderflow
from orderflow.adapters.envelope import CURRENT, UPCASTERS, JsonEnvelope, SchemaVersion, encode
from orderflow.adapters.memory.broker import MemoryBroker
from orderflow.adapters.memory.topics import MemoryTopicStore
from orderflow.application.messages import to_outbox
from orderflow.domain.errors import OrderNotFound
from orderflow.domain.model import Customer, Order, OrderLine, OrderStatus, PaymentMethod
from orderflow.entrypoints.cli import main
from orderflow.entrypoints.dlq import DeadLetterQueue, dlq_group, parse, position, table
from orderflow.ports.topics import StoredRecord
from tests.unit.journey import drain, memory_broker

V2 = SchemaVersion(2, 0)


def newer_release_message(app: Orderflow, quantity: int) -> tuple[str, bytes]:
    """An order as a release with a new major schema version publishes it
    (before this release's workers were upgraded): a message no worker of
    this release can ever process, which is what the DLQ is for. Its id and
    bytes."""
    order = Order.place(
        order_id=str(uuid.uuid4()),
        customer=Customer("Ada Lovelace", "ada@example.com", "12 Analytical St"),
        items=(OrderLine("mouse", quantity, Decimal("19.90")),),
        payment_method=PaymentMethod.CARD,
        now=app.clock.now(),
    )
    [message] = to_outbox(order.events, topics=app.topics)
    return order.id, encode(message, version=V2)


def from_a_newer_release(app: Orderflow, quantity: int) -> str:
    """Publish newer_release_message on the in-process broker; its order id."""
    order_id, value = newer_release_message(app, quantity)
    memory_broker(app).append(app.topics.orders, order_id, value)
    return order_id


def upgrade_workers_to_read_v2(app: Orderflow) -> None:
    """The fix: workers of a release that reads 2.x (and upcasts 1.x)."""
    upcasters = {**UPCASTERS, CURRENT: (V2, lambda envelope: envelope)}
    codec = JsonEnvelope(current=V2, upcasters=upcasters)
    app.container.codec.override(providers.Object(codec))


def queue_of(app: Orderflow) -> DeadLetterQueue:
    broker = app.container.memory_broker()
    assert isinstance(broker, MemoryBroker)
    return DeadLetterQueue(
        MemoryTopicStore(broker), topics=app.topics, group=dlq_group(app.settings.consumer_group)
    )


def test_a_dead_letter_is_listed_with_its_key_error_attempts_and_original(
    app: Orderflow,
) -> None:
    order_id = from_a_newer_release(app, 1)
    drain(app)

    [entry] = queue_of(app).entries()

    assert entry.key == order_id
    assert "unknown major schema version 2.0" in entry.error
    assert entry.attempts == 1
    assert entry.failed_at is not None
    original = json.loads(entry.original)
    assert original["type"] == "OrderPlaced" and original["key"] == order_id
    assert entry.source is not None and entry.source["topic"] == app.topics.orders
    assert entry.to_json()["original_text"] == entry.original.decode()
    assert entry.position in table([entry])


def test_a_replay_after_the_fix_completes_the_order_and_purge_empties_the_list(
    app: Orderflow,
) -> None:
    first = from_a_newer_release(app, 1)
    second = from_a_newer_release(app, 2)
    drain(app)
    queue = queue_of(app)
    assert len(queue.entries()) == 2

    upgrade_workers_to_read_v2(app)
    chosen = queue.select(queue.entries(), keys=[first])
    assert queue.replay(chosen) == 1
    drain(app)

    assert app.queries.get(first).status is OrderStatus.COMPLETED
    with pytest.raises(OrderNotFound):
        app.queries.get(second)
    assert app.catalog.get("mouse").stock == 99
    # A second replay of the same letter changes nothing: idempotent processing.
    queue.replay(chosen)
    drain(app)
    assert app.catalog.get("mouse").stock == 99
    assert len(queue.entries()) == 2  # replay does not purge

    assert queue.purge() == 2
    assert queue.entries() == []


def test_purge_through_an_offset_drops_that_prefix_of_the_partition_only(
    app: Orderflow,
) -> None:
    for quantity in (1, 2, 3, 1, 2, 3):
        from_a_newer_release(app, quantity)
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
