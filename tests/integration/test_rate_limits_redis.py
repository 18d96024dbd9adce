"""Rate limits counted in the cache's Redis, as in production: two app
instances (two API processes) spend one budget per client and per key;
the per-recipient notification limit is shared the same way; with Redis
unreachable the limiter counts in memory and every request is answered,
and counts in Redis again once it is back."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from flask.testing import FlaskClient
from limits import parse

import orderflow
from orderflow import Orderflow
from orderflow.adapters.memory.notifier import RecordingNotifier
from orderflow.adapters.throttled_notifier import ThrottledNotifier
from orderflow.domain.errors import NotificationFailed, NotificationThrottled
from orderflow.domain.identity import Role
from orderflow.entrypoints.http import rate_limits
from orderflow.entrypoints.http.app import create_app
from orderflow.ports.notifier import Notification
from tests.support.processes import free_port
from tests.support.proxy import TcpProxy
from tests.unit.http.support import api_key, assert_problem

Instance = Callable[..., FlaskClient]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    """Makes app instances over one SQLite file (shared API keys) and the
    cache URL given; each is what one API process would serve."""
    database = f"sqlite:///{tmp_path}/shop.sqlite3"
    flows: list[Orderflow] = []

    def make(cache_url: str, **settings: Any) -> FlaskClient:
        flow = orderflow.bootstrap(database_url=database, cache_url=cache_url, **settings)
        if not flows:
            flow.migrate()
        flows.append(flow)
        return create_app(flow).test_client()

    yield make
    for flow in flows:
        flow.close()


def a_client() -> dict[str, Any]:
    """A client address of its own (a /64 no earlier run has counted)."""
    network = uuid.uuid4().hex
    address = f"2001:db8:{network[:4]}:{network[4:8]}::1"
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_two_instances_spend_one_budget_per_address(redis_url: str, instance: Instance) -> None:
    first, second = (instance(redis_url, rate_limit="3/minute") for _ in range(2))
    client = a_client()

    codes = [first.get("/api/products", **client).status_code for _ in range(2)]
    codes.append(second.get("/api/products", **client).status_code)

    assert codes == [200, 200, 200]
    assert_problem(first.get("/api/products", **client), 429)
    assert_problem(second.get("/api/products", **client), 429)
    assert first.get("/api/products", **a_client()).status_code == 200  # another address


def test_counters_keep_their_redis_keys(redis_url: str, instance: Instance) -> None:
    """Processes of the release before count in the same keys during a
    rolling deploy: a counter's key is the one limits makes of the prefix,
    the scope and the bucket."""
    client = a_client()
    network = str(
        ipaddress.IPv6Network(f"{client['environ_base']['REMOTE_ADDR']}/64", strict=False)
    )
    expected = parse("3/minute").key_for("orderflow-rate", "all", f"addr:{network}")

    assert (
        instance(redis_url, rate_limit="3/minute").get("/api/products", **client).status_code == 200
    )

    store = redis.Redis.from_url(redis_url)
    try:
        found = [
            key.decode() for key in store.scan_iter(match=f"*orderflow-rate/all/addr:{network}/*")
        ]
    finally:
        store.close()
    assert len(found) == 1 and found[0].endswith(expected), found


def test_two_instances_spend_one_budget_per_key_apart_from_the_address(
    redis_url: str, instance: Instance
) -> None:
    limits = {"rate_limit": "1/minute", "rate_limit_key": "3/minute"}
    first, second = instance(redis_url, **limits), instance(redis_url, **limits)
    flow = first.application.extensions["orderflow"]
    shop, client = api_key(flow, Role.SHOP), a_client()
    assert first.get("/api/products", **client).status_code == 200
    assert_problem(first.get("/api/products", **client), 429)  # the address is spent

    codes = [first.get("/api/products", headers=shop, **client).status_code for _ in range(2)]
    codes.append(second.get("/api/products", headers=shop, **client).status_code)

    assert codes == [200, 200, 200]
    assert_problem(second.get("/api/products", headers=shop, **client), 429)


def test_with_redis_unreachable_requests_are_answered_and_limited_in_memory(
    instance: Instance,
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    app = instance(nowhere, rate_limit="3/minute")

    started = time.monotonic()
    codes = [app.get("/api/products").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    assert time.monotonic() - started < 5  # one failed connection, not one per request


def note(recipient: str) -> Notification:
    order_id = str(uuid.uuid4())
    return Notification(order_id, "completed", recipient, f"Order {order_id}", "Hello")


def test_the_notification_limit_is_shared_through_redis(redis_url: str) -> None:
    first, second = RecordingNotifier(), RecordingNotifier()
    recipient = f"{uuid.uuid4().hex}@example.com"

    ThrottledNotifier(first, limit="1/hour", storage_url=redis_url).send(note(recipient))
    with pytest.raises(NotificationThrottled):
        ThrottledNotifier(second, limit="1/hour", storage_url=redis_url).send(note(recipient))

    assert (len(first.sent), len(second.sent)) == (1, 0)


def test_counting_moves_to_memory_while_redis_is_away_and_back_after_the_pause(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limits, "_RETRY_FIRST_S", 0.5)
    parsed = urlsplit(redis_url)
    item = parse("2/minute")
    bucket = uuid.uuid4().hex
    with TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379) as proxy:
        through = f"redis://127.0.0.1:{proxy.port}{parsed.path}"
        counters, other = rate_limits.Counters(through), rate_limits.Counters(redis_url)
        assert counters.hit(item, bucket)  # 1 in Redis

        proxy.outage()
        assert [counters.hit(item, bucket) for _ in range(3)] == [True, True, False]  # memory
        assert other.hit(item, bucket)  # 2 in Redis: the outage's hits never reached it

        proxy.resume()
        time.sleep(0.6)
        assert not counters.hit(item, bucket)  # 3 in Redis: shared again


class _Failing(RecordingNotifier):
    def send(self, notification: Notification) -> None:
        raise NotificationFailed("mail server down")


def test_a_failed_send_gives_its_count_back_in_redis(redis_url: str) -> None:
    recipient = f"{uuid.uuid4().hex}@example.com"
    failing = ThrottledNotifier(_Failing(), limit="1/hour", storage_url=redis_url)
    for _ in range(3):
        with pytest.raises(NotificationFailed):
            failing.send(note(recipient))

    working = RecordingNotifier()
    ThrottledNotifier(working, limit="1/hour", storage_url=redis_url).send(note(recipient))

    assert len(working.sent) == 1  # the failures counted nothing
