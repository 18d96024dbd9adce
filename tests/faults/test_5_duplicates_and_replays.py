"""Scenario 5: the same events again. Every OrderPlaced of the scenario is
published twice more (a producer retry, a relay that republished a batch),
then the workers consume the orders topic again from offset 0 (an operator's
replay: a rewound consumer group) so that everything ever published is
consumed again; and three poison messages are mixed in.

Idempotent processing: nothing moves twice, no stock is taken twice, no
notification is sent twice; the DLQ gains exactly the three poison messages."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from kafka import KafkaAdminClient, KafkaProducer

from tests.faults.rig import WORKERS, Figures, Rig, wait_for

BEFORE, AFTER = 80, 40
COPIES = 2

POISON = [
    b"\x00\x01 not json at all",
    json.dumps({"type": "OrderPlaced", "schema_version": 99, "data": {}}).encode(),
    json.dumps(
        {
            "type": "OrderPlaced",
            "schema_version": 1,
            "event_id": "poison-3",
            "occurred_at": datetime.now(UTC).isoformat(),
            "key": "poison-3",
            "data": {"order_id": "poison-3", "order": {"id": "poison-3"}},
        }
    ).encode(),
]


def committed_offsets(rig: Rig) -> dict[int, int]:
    """Partition -> committed offset of the workers' group on the orders topic.
    Asked through the admin API: a KafkaConsumer carrying the group id would
    leave the group on close and set off a rebalance of the live workers."""
    admin = KafkaAdminClient(bootstrap_servers=rig.servers)
    try:
        group = rig.env["ORDERFLOW_CONSUMER_GROUP"]
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    topic = rig.env["ORDERFLOW_ORDERS_TOPIC"]
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def replay_from_the_beginning(rig: Rig) -> int:
    """Restart the workers in a new consumer group: it starts from the oldest
    message of the orders topic, so everything ever published is consumed
    again. Returns how many messages the old group had consumed.

    This is what rewinding the group's offsets to 0 does. It is not done by
    rewinding (alter_group_offsets on the emptied group) because on Tansu
    0.6 a group whose members all left and rejoin fails SyncGroup with
    "rebalance in progress" for 20 s or more, sometimes for good
    (docs/TEST-SERVICES.md); a new group joins at once."""
    before = committed_offsets(rig)
    for name in WORKERS:
        rig.stack.terminate(name)
    rig.env["ORDERFLOW_CONSUMER_GROUP"] += "-replay"  # the stack's env: restarts use it
    for name in WORKERS:
        rig.stack.restart(name)
    return sum(before.values())


def publish_raw(rig: Rig, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=rig.servers, acks="all")
    try:
        for key, value in records:
            producer.send(rig.env["ORDERFLOW_ORDERS_TOPIC"], key=key, value=value)
        producer.flush(30)
    finally:
        producer.close()


def test_duplicated_and_replayed_events_change_nothing(
    healthy: Rig, results: list[Figures]
) -> None:
    rig = healthy
    scenario = rig.open("replays", {"rep-plenty": 1_000_000, "rep-scarce": 90})
    choices = [("rep-plenty", 1, 3), ("rep-scarce", 1, 2)]
    before, after = rig.scale.count(BEFORE), rig.scale.count(AFTER)
    requests = scenario.requests(before + after, choices, seed=5)

    rig.place_many(scenario, requests[:before], per_second=rig.scale.rate(200))
    rig.wait_settled(scenario, timeout_s=60)

    # 1. The same message twice more: copies of each of the scenario's OrderPlaced.
    mine = [
        (record.key, record.value)
        for record in rig.topic_records(rig.env["ORDERFLOW_ORDERS_TOPIC"])
        if record.key is not None and record.key.decode() in scenario.accepted
    ]
    assert len(mine) >= before
    publish_raw(rig, mine * COPIES)
    scenario.faults["duplicate publish"] += len(mine) * COPIES

    # 2. A replay of the whole topic from offset 0.
    caught_up = wait_for(lambda: _lag(rig) == 0, 60, 0.5)
    assert caught_up, "the workers did not consume the duplicates"
    scenario.faults["replayed from offset 0"] += replay_from_the_beginning(rig)

    # 3. Poison, then more orders behind it.
    publish_raw(rig, [(b"poison", value) for value in POISON])
    scenario.faults["poison message"] += len(POISON)
    scenario.dead_letters_expected = len(POISON)
    rig.place_many(scenario, requests[before:], per_second=rig.scale.rate(100))

    started = time.monotonic()
    assert wait_for(lambda: _lag(rig) == 0, 120, 0.5), "the replay did not finish"

    def poisoned() -> bool:
        return len(rig.dead_letter_sources()) - scenario.dead_letters_before >= len(POISON)

    assert wait_for(poisoned, 60, 0.5), "the poison was not dead-lettered"
    scenario.notes["replay_s"] = round(time.monotonic() - started, 1)
    rig.wait_settled(scenario, timeout_s=60)
    figures = rig.conclude(scenario, results)
    assert figures.orders == len(requests)
    assert not figures.problems, "\n".join(figures.problems) + "\n" + rig.stack.logs()


def _lag(rig: Rig) -> int:
    """Messages of the orders topic (as of now) the group has not committed.
    Not end offset minus committed offset: with transactions, each commit
    marker takes an offset that no consumer ever commits past. A read that
    found no record at all (a slow broker) counts as lag, never as none."""
    targets: dict[int, int] = {}
    for record in rig.topic_records(rig.env["ORDERFLOW_ORDERS_TOPIC"]):
        targets[record.partition] = max(targets.get(record.partition, 0), record.offset + 1)
    if not targets:
        return 1
    committed = committed_offsets(rig)
    return sum(max(0, target - committed.get(p, 0)) for p, target in targets.items())
