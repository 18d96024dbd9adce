"""MongoDB: a unit of work that cannot release its outbox claims because the
database went away keeps them, and this process releases them after its next
successful write, instead of leaving the messages to the claim lease (60 s);
a message published whose marking did not commit is released with them.
The outage is a TCP proxy in front of the real server."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pytest

import orderflow
from orderflow.adapters.mongo.unit_of_work import MongoUnitOfWorkFactory
from orderflow.domain.commands import LineRequest, PlaceOrder
from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.model import Customer, PaymentMethod, Product
from orderflow.ports.outbox import OutboxMessage
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.integration


def _at(url: str, *, port: int | None = None, database: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if port is None else f"{parts.hostname}:{port}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


@pytest.fixture
def database_url(mongo_url: str) -> Iterator[str]:
    url = _at(mongo_url, database=f"orderflow_test_{uuid.uuid4().hex[:12]}")
    flow = orderflow.bootstrap(database_url=url, notify_url="memory://")
    flow.migrate()
    flow.catalog.upsert_many([Product("lamp", "Lamp", "LED lamp", Decimal("25.00"), 10)])
    flow.placement.place(
        PlaceOrder(
            customer=Customer("Ada", "ada@example.com", "12 Analytical Street"),
            items=(LineRequest("lamp", 1),),
            payment_method=PaymentMethod.CARD,
        )
    )
    flow.close()
    yield url


@dataclass
class Rig:
    proxy: TcpProxy
    proxied: MongoUnitOfWorkFactory  # the relay's process, behind the proxy
    direct: MongoUnitOfWorkFactory  # another relay, never cut off


@pytest.fixture
def rig(database_url: str) -> Iterator[Rig]:
    parts = urlsplit(database_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 27017) as proxy:
        proxied = MongoUnitOfWorkFactory.from_url(
            _at(database_url, port=proxy.port, database=parts.path.lstrip("/")),
            serverSelectionTimeoutMS=500,
        )
        direct = MongoUnitOfWorkFactory.from_url(database_url)
        try:
            yield Rig(proxy, proxied, direct)
        finally:
            proxied.close()
            direct.close()


def _claimable_after_writes(rig: Rig, writes: int = 5) -> list[OutboxMessage]:
    """What another relay can claim once the proxied process has written
    again: a write that succeeds releases what was left. The first release
    may itself meet a connection the outage left dead in the driver's pool
    (a multi-document update is not retried by the driver): it is then kept
    and made after the next write, as a relay that goes on writing would."""
    for _ in range(writes):
        with contextlib.suppress(StorageUnavailable), rig.proxied() as after:
            after.commit()
        with rig.direct() as other:
            again = other.outbox.claim_batch(limit=10)
        if again:
            return again
        time.sleep(0.1)
    return []


def test_claims_a_unit_of_work_could_not_release_are_released_after_the_outage(rig: Rig) -> None:
    with rig.proxied() as relay:
        claimed = relay.outbox.claim_batch(limit=10)
        assert len(claimed) == 1
        rig.proxy.outage()  # the claim cannot be released at the block's end
    with rig.direct() as other:
        assert other.outbox.claim_batch(limit=10) == []  # still claimed

    rig.proxy.resume()
    again = _claimable_after_writes(rig)
    assert [m.message_id for m in again] == [claimed[0].message_id]


def test_a_message_published_but_not_marked_goes_out_again_after_the_outage(rig: Rig) -> None:
    with rig.proxied() as relay:
        claimed = relay.outbox.claim_batch(limit=10)
        # Sent to the broker; its marking is what the outage stops.
        relay.outbox.mark_published(
            seqs=[m.seq for m in claimed if m.seq is not None], at=datetime.now(UTC)
        )
        rig.proxy.outage()
        with pytest.raises(StorageUnavailable):
            relay.commit()

    rig.proxy.resume()
    again = _claimable_after_writes(rig)
    assert [m.message_id for m in again] == [claimed[0].message_id]  # at least once
