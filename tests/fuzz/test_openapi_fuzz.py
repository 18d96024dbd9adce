"""Property-based fuzzing of the HTTP API from its own OpenAPI document
(schemathesis, in-process against the WSGI app on the memory backend): for
every operation, schema-valid and schema-violating requests alike must never
get a 5xx, and a 4xx must change nothing stored (orders, their statuses,
products and stock, the outbox, idempotency keys).

Operations with inputs get EXAMPLES generated requests each; a path that
takes an order id gets a real one (placed before the run) every fourth
request, so cancels and reads of existing orders are fuzzed too. Each
request is sent as one of five roles in turn (ROLES: anonymous, an order
access token, a customer JWT, a shop key, an ops key); the real orders
belong to those principals in turn, so owners, strangers and ops all reach
existing orders. An ops key may not place orders: its placing requests are
403 (a 4xx that must change nothing, like any other), and it reaches its
2xx on the reads. The counts per operation and role are printed and written
to .fuzz-results.json."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings

import orderflow
from orderflow.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from orderflow.domain.identity import Role
from orderflow.domain.model import Product
from orderflow.entrypoints.http.app import create_app
from tests.contracts.ownership_contract import JWT_KEY, customer
from tests.unit.http.support import CATALOG, UNTHROTTLED, api_key, owner_of, valid_order

# Per operation: 400 keeps `make test` inside CI's 15 minutes; a longer
# hunt is ORDERFLOW_FUZZ_EXAMPLES=5000 make test-fuzz.
EXAMPLES = int(os.environ.get("ORDERFLOW_FUZZ_EXAMPLES", "400"))
NO_INPUT = {"GET /health", "GET /ready", "GET /metrics", "GET /"}
RESULTS_FILE = Path(__file__).resolve().parents[2] / ".fuzz-results.json"

# Streams of pending orders end at once: each fuzzed request reads one event.
# The rate limits stay on (every request passes the limiter), with budgets
# the run never spends: a throttled fuzz would only ever see 429s.
flow = orderflow.bootstrap(
    database_url="memory://",
    notify_url="memory://",
    auth_jwt_key=JWT_KEY,
    stream_max_s=0.01,
    stream_interval_ms=10,
    **UNTHROTTLED,
)
flow.catalog.upsert_many([Product(p.id, p.name, p.description, p.price, p.stock) for p in CATALOG])
app = create_app(flow, config={"READINESS_TIMEOUT_S": 0.2})
app.testing = True
schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
client = app.test_client()
DOCUMENTED = {
    f"{method.upper()} {path}"
    for path, item in client.get("/openapi.json").get_json()["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
}
CREDENTIALS: dict[str, dict[str, str]] = {
    "anonymous": {},
    "customer": customer("fuzz-customer"),
    "shop": api_key(flow, Role.SHOP),
    "ops": api_key(flow, Role.OPS),
}
PLACERS = ["anonymous", "customer", "shop"]
PLACED = [
    client.post(
        "/api/orders", json=valid_order(), headers=CREDENTIALS[PLACERS[i % len(PLACERS)]]
    ).get_json()
    for i in range(21)
]
REAL_ORDERS = [order["id"] for order in PLACED]
ROLES = ["anonymous", "order-token", "customer", "shop", "ops"]
CATALOG_IDS = [p.id for p in CATALOG]
CATALOG_NAMES = [p.name for p in CATALOG]
COUNTS: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()
BY_ROLE: Counter[str] = Counter()
STARTED = time.monotonic()


def stored() -> tuple[Any, ...]:
    """Everything a request could change, by value."""
    factory = flow.uow_factory
    assert isinstance(factory, MemoryUnitOfWorkFactory)
    tables = factory.database.tables
    return (
        {oid: (row["status"], row["version"]) for oid, row in tables.orders.items()},
        dict(tables.products),  # rows are immutable snapshots: compared by value
        len(tables.outbox),
        len(tables.idempotency),
    )


def authenticate(case: Any, n: int) -> str:
    """Send the case as the n-th role (an order token: that of a real order)."""
    role = ROLES[n % len(ROLES)]
    headers = dict(case.headers or {})
    headers.pop("Authorization", None)
    if role == "order-token":
        # The token of the order the path names, if it is a real one.
        named = (case.path_parameters or {}).get("order_id")
        own = [order for order in PLACED if order["id"] == named]
        headers.update(owner_of(own[0] if own else PLACED[n % len(PLACED)]))
    else:
        headers.update(CREDENTIALS[role])
    case.headers = headers
    return role


def make_realistic(case: Any, n: int) -> None:
    """Point a generated case at things that exist (an order, catalog
    products), so that success paths are fuzzed as well as refusals: random
    ids and product names almost never exist."""
    if "order_id" in (case.path_parameters or {}) and n % 4 == 0:
        case.path_parameters["order_id"] = REAL_ORDERS[n % len(REAL_ORDERS)]
    body = case.body
    if not isinstance(body, dict):
        return
    items = body.get("items")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict) and "product_id" in item:
                item["product_id"] = CATALOG_IDS[(n + index) % len(CATALOG_IDS)]
    if "product" in body:
        body["product"] = CATALOG_NAMES[n % len(CATALOG_NAMES)]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure shows its input
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_5xx_and_a_4xx_changes_nothing(case: Any) -> None:
    # Counted per documented operation; negative cases include other methods.
    operation = case.operation.label
    COUNTS[operation] += 1
    if COUNTS[operation] % 2 == 0:
        make_realistic(case, COUNTS[operation])
    role = authenticate(case, COUNTS[operation] // 2)
    before = stored()

    response = case.call()

    STATUSES[f"{case.method.upper()} {case.path} {response.status_code}"] += 1
    BY_ROLE[f"{role} {response.status_code}"] += 1
    assert response.status_code < 500, (case.as_curl_command(), response.text[:500])
    if 400 <= response.status_code < 500:
        assert stored() == before, case.as_curl_command()
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), content_type


def test_zz_write_the_counts() -> None:
    """Runs last (file order): the figures of this run for docs/RELIABILITY.md."""
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(time.monotonic() - STARTED, 1),
                "requests_per_operation": dict(sorted(COUNTS.items())),
                "total_requests": sum(COUNTS.values()),
                "statuses": dict(sorted(STATUSES.items())),
                "statuses_by_role": dict(sorted(BY_ROLE.items())),
            },
            indent=2,
        )
        + "\n"
    )
    for operation, count in sorted(COUNTS.items()):
        print(f"[fuzz] {operation}: {count} requests")
    print(f"[fuzz] total: {sum(COUNTS.values())} requests")
    # /health, /ready, /metrics and the page at / take no input: a few cases exhaust them.
    with_inputs = [op for op in COUNTS if op not in NO_INPUT]
    # Every documented route is fuzzed, but the document itself, which
    # schemathesis loads the schema from and does not generate cases for.
    assert set(COUNTS) == DOCUMENTED - {"GET /openapi.json"}, (sorted(COUNTS), sorted(DOCUMENTED))
    assert all(COUNTS[op] >= EXAMPLES for op in with_inputs), COUNTS
    assert not [key for key in BY_ROLE if key.endswith(" 429")], BY_ROLE  # never throttled
    # Every role got through to success answers, not only to refusals.
    assert {key.split()[0] for key in BY_ROLE if key.endswith(" 200")} == set(ROLES), BY_ROLE
    # The only 201s are placed orders, and an ops key places none.
    assert "ops 201" not in BY_ROLE, BY_ROLE
