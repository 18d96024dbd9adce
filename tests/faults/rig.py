"""The fault rig: the production stack as OS processes (granian API, relay,
three workers) on one store (MariaDB, PostgreSQL or MongoDB: tests/faults/
stores.py), a Kafka-protocol broker and Redis, with the database and Redis
behind TCP proxies the test controls, a webhook receiver counting
notifications, and the checks every scenario ends with.

Each scenario has its own products and its own customers' email domain, so
its figures are its own; the checks also look at the whole database.

Every request to the API goes through Rig.call (or Rig.call_text), which
adds Rig.credentials: the one place to change when the API asks for one."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from orderflow.adapters.kafka.urls import bootstrap_servers
from tests.faults.stores import Scale, StoredOrder, StoreView
from tests.support import metrics
from tests.support.processes import Service
from tests.support.proxy import TcpProxy
from tests.support.stack import Stack, http_call
from tests.support.webhook import WebhookRecorder

# Processing is over (a completed order may still be cancelled).
TERMINAL = ("completed", "failed", "cancelled")
WORKERS = ("worker-1", "worker-2", "worker-3")
# Every timeline an order may have; its version is the number of steps.
LEGAL_PATHS = frozenset(
    {
        ("pending", "processing", "completed"),
        ("pending", "processing", "failed"),
        ("pending", "cancelled"),
        ("pending", "processing", "cancelled"),
        ("pending", "processing", "completed", "cancelled"),
    }
)
# A cancel answered this way is the service being busy: a client retries it.
RETRIED_CANCEL = {503, 500}
# docs/API.md: a 409 of this type (the order stayed locked by a worker, on
# MongoDB) means "read it again and retry"; every other 409 is final.
RETRIED_CONFLICT = "urn:orderflow:problem:concurrent-update"


def notified(path: Iterable[str]) -> list[str]:
    """The statuses of a timeline the customer is told about, once each."""
    return [status for status in path if status in TERMINAL]


@dataclass
class Scenario:
    name: str
    stock: dict[str, int]  # product id -> initial stock
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> request
    tokens: dict[str, str] = field(default_factory=dict)  # id -> its 201's access_token
    refused: Counter[int] = field(default_factory=Counter)  # non-201 answers by status
    unanswered: int = 0  # requests that got no answer at all
    faults: Counter[str] = field(default_factory=Counter)
    dead_letters_expected: int = 0
    dead_letters_before: int = 0  # distinct DLQ records when the scenario began
    # order id -> the answers to its cancels, (status, body); 0: no answer
    cancels: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def domain(self) -> str:
        return f"{self.name}.test"

    def request(self, index: int, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "customer": {
                "name": f"{self.name} customer {index}",
                "email": f"c{index}@{self.domain}",
                "address": f"{index} Fault Street",
            },
            "items": items,
            "payment_method": ["card", "paypal", "bank_transfer", "cash_on_delivery"][index % 4],
        }

    def requests(
        self, count: int, choices: list[tuple[str, int, int]], *, seed: int, start: int = 0
    ) -> list[dict[str, Any]]:
        """`count` order requests over `choices` (see lines()), reproducibly."""
        rng = random.Random(seed)
        return [self.request(i, lines(rng, choices)) for i in range(start, start + count)]

    def record(self, status: int, body: dict[str, Any], request: dict[str, Any]) -> None:
        with self._lock:
            if status == 201:
                self.accepted[str(body["id"])] = request
                self.tokens[str(body["id"])] = str(body["access_token"])
            else:
                self.refused[status] += 1


@dataclass
class Figures:
    store: str
    scenario: str
    orders: int
    faults: dict[str, int]
    lost: int
    duplicated: int
    oversold: int  # products with more units on the shelf than the orders leave
    not_restored: int  # products short of units: a cancel did not put them back
    stuck: int
    stale: int  # orders whose status the API reports differently from the database
    refused: int
    unanswered: int
    notifications: int
    dead_letters: int
    dead_letters_expected: int
    seconds: float
    notes: dict[str, Any]
    problems: list[str]

    def line(self) -> str:
        faults = sum(self.faults.values())
        return (
            f"[faults] {self.store} {self.scenario}: orders={self.orders} faults={faults} "
            f"({', '.join(f'{k}={v}' for k, v in self.faults.items())}) lost={self.lost} "
            f"duplicated={self.duplicated} oversold={self.oversold} "
            f"not_restored={self.not_restored} stuck={self.stuck} "
            f"stale={self.stale} refused={self.refused} "
            f"dlq={self.dead_letters}/{self.dead_letters_expected} "
            f"in {self.seconds:.1f} s"
        )

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "problems"} | {
            "problems": self.problems[:20]
        }


class Rig:
    def __init__(
        self,
        *,
        store: str,
        scale: Scale,
        stack: Stack,
        kafka: Service,
        view: StoreView,
        db_proxy: TcpProxy,
        redis_proxy: TcpProxy,
        webhook: WebhookRecorder,
        worker_metrics_ports: dict[str, int],
    ) -> None:
        self.worker_metrics_ports = worker_metrics_ports  # each worker's own /metrics
        self.store = store
        self.scale = scale
        self.stack = stack
        self.kafka = kafka
        self.env = stack.env
        self.view = view  # direct, not through the proxy
        self.db_proxy = db_proxy
        self.redis_proxy = redis_proxy
        self.webhook = webhook
        self.servers = bootstrap_servers(self.env["ORDERFLOW_BROKER_URL"])
        self.startup_s = 0.0
        # Headers every API request carries: orders are placed and read in
        # bulk as a shop would, with its API key (made by `orderflow keys
        # create` once the schema exists: see start_keys()).
        self.credentials: dict[str, str] = {}
        self.ops_credentials: dict[str, str] = {}  # /metrics, /ready's details

    def start_keys(self) -> None:
        self.credentials = {"Authorization": f"Bearer {self.stack.create_key('shop')}"}
        self.ops_credentials = {"Authorization": f"Bearer {self.stack.create_key('ops')}"}

    # --- the API ----------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout_s: float = 10.0,
        credentials: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One JSON request to the stack's API, with the rig's credentials
        unless others are given."""
        return http_call(
            method,
            f"{self.stack.base}{path}",
            body,
            headers=dict(self.credentials if credentials is None else credentials),
            timeout_s=timeout_s,
        )

    def call_text(self, path: str, *, timeout_s: float = 10.0) -> str:
        """GET a text resource of the API (/metrics), with the rig's ops key."""
        request = urllib.request.Request(f"{self.stack.base}{path}", headers=self.ops_credentials)
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return str(response.read().decode())

    # --- intake ---------------------------------------------------------------

    def open(self, name: str, stock: dict[str, int]) -> Scenario:
        """A new scenario: its products seeded, the DLQ's size noted."""
        scenario = Scenario(name, stock=dict(stock))
        self.seed(scenario)
        scenario.dead_letters_before = len(self.dead_letter_sources())
        return scenario

    def conclude(self, scenario: Scenario, results: list[Figures]) -> Figures:
        """Verify, keep and print the scenario's figures."""
        figures = self.verify(scenario)
        results.append(figures)
        print(figures.line(), scenario.notes)
        return figures

    def seed(self, scenario: Scenario, price: str = "10.00") -> None:
        catalog = [
            {"id": pid, "name": pid, "description": scenario.name, "price": price, "stock": stock}
            for pid, stock in scenario.stock.items()
        ]
        path = self.stack.workdir / f"catalog-{scenario.name}.json"
        path.write_text(json.dumps(catalog))
        self.stack.run("seed", str(path))

    def place(self, scenario: Scenario, request: dict[str, Any]) -> str | None:
        """POST the order; its id when it was accepted."""
        try:
            status, body = self.call("POST", "/api/orders", request, timeout_s=30)
        except OSError:
            with scenario._lock:
                scenario.unanswered += 1
            return None
        scenario.record(status, body, request)
        return str(body["id"]) if status == 201 else None

    def place_many(
        self,
        scenario: Scenario,
        requests: Iterable[dict[str, Any]],
        *,
        threads: int = 8,
        per_second: float | None = None,
    ) -> None:
        """POST every request from `threads` threads, optionally paced."""
        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            futures = []
            for index, request in enumerate(requests):
                if per_second:
                    delay = started + index / per_second - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                futures.append(pool.submit(self.place, scenario, request))
            for future in futures:
                future.result()

    def cancel(
        self, scenario: Scenario, order_id: str, *, with_token: bool = False, attempts: int = 5
    ) -> int:
        """POST the order's cancel as a customer's client would: again when
        the service was busy or did not answer. Every answer is recorded.
        With the shop's key, or `with_token`, the order's own access token."""
        token = {"Authorization": f"Bearer {scenario.tokens[order_id]}"}
        credentials = token if with_token else None
        status = 0
        for attempt in range(attempts):
            try:
                status, body = self.call(
                    "POST", f"/api/orders/{order_id}/cancel", {}, credentials=credentials
                )
            except OSError:
                status, body = 0, {}
            with scenario._lock:
                scenario.cancels.setdefault(order_id, []).append((status, body))
            retried = status in RETRIED_CANCEL or (
                status == 409 and body.get("type") == RETRIED_CONFLICT
            )
            if status and not retried:
                return status
            time.sleep(0.05 * (attempt + 1))
        return status

    # --- observation ----------------------------------------------------------

    def worker_counter(self, name: str) -> float:
        """The sum of counter `name` over the workers that answer (a worker
        killed and restarted starts again from 0: compare within one run)."""
        found = 0.0
        for port in self.worker_metrics_ports.values():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    samples, _ = metrics.parse(r.read().decode())
            except OSError:
                continue
            found += metrics.total(samples, name)
        return found

    def statuses(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        return self.view.statuses(ids)

    def outbox_backlog(self) -> int:
        return self.view.outbox_backlog()

    def wait_settled(self, scenario: Scenario, *, timeout_s: float = 90) -> None:
        """Until every accepted order is terminal, the outbox is empty and every
        terminal status an order of the scenario reached was notified (or the
        time is up)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows = self.view.orders(scenario.accepted)
            done = sum(1 for row in rows if row.status in TERMINAL)
            if done == len(scenario.accepted) and self.outbox_backlog() == 0:
                sent = self.webhook.sends()
                if all(sent[row.id, status] >= 1 for row in rows for status in notified(row.path)):
                    return
            time.sleep(0.3)

    def assignments(self, name: str) -> list[tuple[datetime, set[int]]]:
        """(when, the partitions of the orders topic held from then on) for
        each assignment and revocation worker `name`'s consumer logged since
        the worker started. A worker processes the orders of its partitions
        only: no batch runs between a revocation and the next assignment."""
        topic = self.env["ORDERFLOW_ORDERS_TOPIC"]
        events: list[tuple[datetime, set[int]]] = []
        for line in self.stack.log_of_this_start(name).splitlines():
            if '"partitions ' not in line or not line.startswith("{"):
                continue
            entry = json.loads(line)
            message = str(entry.get("message", ""))
            held: set[int] = set()
            if message.startswith("partitions assigned:"):
                for place in message.split(":", 1)[1].split():
                    name_, _, numbers = place.partition("[")
                    if name_ == topic:
                        held = {int(n) for n in numbers.rstrip("]").split(",") if n}
            elif not message.startswith("partitions revoked:"):
                continue
            events.append((datetime.fromisoformat(entry["time"]), held))
        return events

    def held_partitions(self, name: str) -> set[int]:
        """The partitions of the orders topic worker `name` holds now."""
        events = self.assignments(name)
        return events[-1][1] if events else set()

    def worker_of(self, order_id: str, finished_at: datetime) -> str | None:
        """The worker that held the order's partition when it was finished."""
        partition = self.partition_of(order_id)
        for name in WORKERS:
            held: set[int] = set()
            for when, partitions in self.assignments(name):
                if when > finished_at:
                    break
                held = partitions
            if partition in held:
                return name
        return None

    def partition_of(self, order_id: str) -> int:
        """The orders-topic partition of an order's events (kafka-python's
        default partitioner: murmur2 of the key, the order id)."""
        partitions = int(self.env["ORDERFLOW_PARTITIONS"])
        return int(murmur2(order_id.encode()) & 0x7FFFFFFF) % partitions

    def mid_batch(self, name: str) -> list[str]:
        """The orders worker `name` holds between T1 and T2 of a batch right
        now: `processing` in the database, on a partition assigned to it."""
        held = self.held_partitions(name)
        if not held:
            return []
        ids = self.view.ids_with_status("processing")
        return [oid for oid in ids if self.partition_of(oid) in held]

    def wait_mid_batch(self, name: str, timeout_s: float) -> list[str]:
        """mid_batch(name) as soon as it holds any order (empty: time is up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            held = self.mid_batch(name)
            if held or time.monotonic() > deadline:
                return held
            time.sleep(0.01)

    def topic_records(self, topic: str) -> list[Any]:
        """Every record of `topic` (read committed), from the beginning."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.servers,
            enable_auto_commit=False,
            isolation_level="read_committed",
            consumer_timeout_ms=1000,
        )
        try:
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
            ]
            if not partitions:
                return []
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            end = consumer.end_offsets(partitions)
            records: list[Any] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and any(
                consumer.position(tp) < end[tp] for tp in partitions
            ):
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend(batch)
            return records
        finally:
            consumer.close()

    def dead_letter_sources(self) -> set[tuple[int, int]]:
        """(partition, offset) of each distinct message on the DLQ topic."""
        sources = set()
        for record in self.topic_records(self.env["ORDERFLOW_DLQ_TOPIC"]):
            source = json.loads(record.value)["data"]["source"]
            sources.add((int(source["partition"]), int(source["offset"])))
        return sources

    # --- the checks -----------------------------------------------------------

    def verify(self, scenario: Scenario) -> Figures:
        """Every accepted order exists once and is terminal along a legal
        timeline, each step once (its version is the number of steps); stock
        fell by exactly the quantities the completed orders hold, is never
        negative, and a cancelled order holds nothing; each status an order
        reached was notified exactly once; every cancel that succeeded
        answered with what the order held, and only one did; the outbox is
        drained; the DLQ holds only what the scenario put there; the API
        reports what the database holds."""
        problems: list[str] = []
        rows = self.view.orders()
        stock = self.view.stock(scenario.stock)
        by_id = {r.id: r for r in rows}
        mine = {r.id: r for r in rows if r.email.endswith("@" + scenario.domain)}

        lost = [oid for oid in scenario.accepted if oid not in by_id]
        problems += [f"lost: order {oid} got a 201 but is not stored" for oid in lost[:5]]
        stuck = [oid for oid, r in mine.items() if r.status not in TERMINAL]
        problems += [f"stuck: {oid} is {mine[oid].status}" for oid in stuck[:5]]

        # Duplicated effects: an order that moved along no legal timeline or
        # moved more often than its timeline says, an order stored that no
        # 201 announced (when every request was answered), a status notified
        # more than once, or an order stored with other lines than requested.
        duplicated: set[str] = set()
        for oid, row in mine.items():
            if row.status in TERMINAL and (
                row.path not in LEGAL_PATHS or row.version != len(row.path)
            ):
                duplicated.add(oid)
                problems.append(f"duplicated: {oid} went {row.path} in version {row.version}")
            if oid not in scenario.accepted and scenario.unanswered == 0:
                duplicated.add(oid)
                problems.append(f"duplicated: {oid} is stored but no 201 announced it")
            request = scenario.accepted.get(oid)
            if request is not None:
                wanted = sorted((i["product_id"], i["quantity"]) for i in request["items"])
                got = sorted(row.items)
                if wanted != got:
                    problems.append(f"order {oid} stored {got}, requested {wanted}")
        sends = self.webhook.sends()
        for (oid, status), count in sends.items():
            if oid in mine and (count > 1 or status not in notified(mine[oid].path)):
                duplicated.add(oid)
                problems.append(f"duplicated: {oid} was notified {count} times of {status}")
        for oid, row in mine.items():
            for status in notified(row.path):
                if sends[oid, status]:
                    continue
                ledger = self.view.ledger_state(oid, status)
                problems.append(
                    f"order {oid} was {status} but never notified of it (ledger: {ledger})"
                )

        # Stock: what the completed orders hold is gone from the shelf, and
        # nothing else (a cancelled order's units came back, once).
        oversold = not_restored = 0
        for product_id, initial in scenario.stock.items():
            taken = sum(
                quantity
                for row in mine.values()
                if row.status == "completed"
                for pid, quantity in row.items
                if pid == product_id
            )
            current = stock.get(product_id)
            if current is None or current < 0 or current > initial - taken:
                oversold += 1
            elif current < initial - taken:
                not_restored += 1
            if current != initial - taken:
                problems.append(
                    f"stock of {product_id}: {current}, expected {initial} - {taken} completed"
                )
        for oid, row in mine.items():
            holds = _units(row.items) if row.status == "completed" else {}
            if row.reserved != holds:
                problems.append(f"{oid} is {row.status} and records {row.reserved} held")
        cancel_problems, cancelled_twice = _cancels_agree(scenario, mine)
        problems += cancel_problems
        duplicated |= cancelled_twice

        backlog = self.outbox_backlog()
        if backlog:
            problems.append(f"{backlog} outbox rows are still unpublished")

        dead_letters = len(self.dead_letter_sources()) - scenario.dead_letters_before
        if dead_letters != scenario.dead_letters_expected:
            problems.append(
                f"DLQ grew by {dead_letters}, expected {scenario.dead_letters_expected}"
            )
        if scenario.refused:
            problems.append(f"intake refused requests: {dict(scenario.refused)}")

        disagreements = self._api_agrees(mine)
        problems += disagreements[:10]
        return Figures(
            store=self.store,
            scenario=scenario.name,
            orders=len(scenario.accepted),
            faults=dict(scenario.faults),
            lost=len(lost),
            duplicated=len(duplicated),
            oversold=oversold,
            not_restored=not_restored,
            stuck=len(stuck),
            stale=len(disagreements),
            refused=sum(scenario.refused.values()),
            unanswered=scenario.unanswered,
            notifications=sum(count for (oid, _), count in sends.items() if oid in mine),
            dead_letters=dead_letters,
            dead_letters_expected=scenario.dead_letters_expected,
            seconds=round(time.monotonic() - scenario.started, 1),
            notes=scenario.notes,
            problems=problems,
        )

    def _api_agrees(self, rows: dict[str, StoredOrder]) -> list[str]:
        def read(oid: str) -> str | None:
            status, body = self.call("GET", f"/api/orders/{oid}")
            if status != 200:
                return f"GET /api/orders/{oid} answered {status}"
            if body["status"] != rows[oid].status or body["version"] != rows[oid].version:
                return (
                    f"the API says {oid} is {body['status']} v{body['version']}, "
                    f"the database {rows[oid].status} v{rows[oid].version}"
                )
            return None

        with ThreadPoolExecutor(8) as pool:
            return [p for p in pool.map(read, list(rows)) if p is not None]


def _units(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    units: Counter[str] = Counter()
    for product_id, quantity in items:
        units[product_id] += quantity
    return dict(units)


def _cancels_agree(scenario: Scenario, rows: dict[str, StoredOrder]) -> tuple[list[str], set[str]]:
    """Each cancel's answer against the order as stored: one 200 per
    cancelled order (none if its cancel's answer was lost), carrying what the
    order held (its lines if it had completed, nothing before); 409 only for
    a failed or already cancelled order. Returns the problems and the orders
    cancelled twice."""
    problems: list[str] = []
    twice: set[str] = set()
    for oid, answers in scenario.cancels.items():
        row = rows.get(oid)
        if row is None:
            continue
        ok = [body for status, body in answers if status == 200]
        if len(ok) > 1:
            twice.add(oid)
            problems.append(f"duplicated: {oid} was cancelled {len(ok)} times")
        if row.status != "cancelled":
            if ok or row.status != "failed":
                problems.append(f"{oid} is {row.status} after cancels answered {answers}")
            continue
        if not ok and all(status for status, _ in answers):
            problems.append(f"{oid} is cancelled, but no cancel of it answered 200")
        held = _units(row.items) if "completed" in row.path else {}
        for body in ok:
            restocked = {line["product_id"]: line["quantity"] for line in body["restocked"]}
            if restocked != held:
                problems.append(f"{oid}: its cancel restocked {restocked}, it held {held}")
        for status, body in answers:
            if status not in (0, 200, 409, *RETRIED_CANCEL):
                problems.append(f"{oid}: a cancel answered {status} {body}")
    return problems, twice


def lines(rng: random.Random, choices: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """One order's items: each (product, low, high) picked with probability 1/2
    (at least one), quantities uniform in [low, high], in random order."""
    picked = [c for c in choices if rng.random() < 0.5] or [rng.choice(choices)]
    rng.shuffle(picked)
    return [{"product_id": p, "quantity": rng.randint(lo, hi)} for p, lo, hi in picked]


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()
