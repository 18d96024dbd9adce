"""One order, one trace, as an operator would collect it: the processes
export to an OTLP/HTTP receiver (what a collector or Jaeger would be), and
the order placed with a W3C `traceparent` yields the API's, the relay's and
the worker's spans under the client's trace id, each the child of the hop
before, down to the notification's send. In embedded mode (`orderflow
serve`, the in-process broker carrying the headers) and on the Kafka stack
(api, relay and worker processes); and as `OTEL_TRACES_EXPORTER=console`
prints it on `orderflow serve`'s standard output. The order is followed
through its status stream, which must arrive live from waitress (serve) and
granian (api)."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.processes import free_port
from tests.support.stack import Stack, http_call, stack_env

pytestmark = pytest.mark.integration

CATALOG = [{"id": "p-traced", "name": "Traced", "description": "", "price": "5.00", "stock": 100}]
BODY = {
    "customer": {"name": "Ada", "email": "ada@example.com", "address": "12 Analytical St"},
    "items": [{"product_id": "p-traced", "quantity": 1}],
    "payment_method": "card",
}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


def tracing_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within the test's patience
        # Long enough for the status stream to show the order unfinished.
        "ORDERFLOW_PROCESSING_DELAY_MS": "1000",
    }


def embedded_env(tmp_path: Path, tracing: dict[str, str]) -> dict[str, str]:
    """`orderflow serve`'s environment: its own SQLite file, the in-process
    broker and cache, and `tracing`."""
    return {
        **stack_env(
            database_url=f"sqlite:///{tmp_path / 'shop.sqlite3'}",
            broker_url="memory://",
            cache_url="memory://",
        ),
        **tracing,
    }


def seeded_stack(env: dict[str, str], workdir: Path) -> Stack:
    """A stack on a migrated database holding CATALOG."""
    stack = Stack(env, workdir)
    catalog = workdir / "catalog.json"
    catalog.write_text(json.dumps(CATALOG))
    stack.run("migrate")
    stack.run("seed", str(catalog))
    return stack


@dataclass(frozen=True)
class TracedOrder:
    trace_id: str  # the client's, 32 hex digits
    client_span_id: str  # the traceparent's parent id, 16 hex digits
    order_id: str


def place_traced(stack: Stack) -> TracedOrder:
    """Place one order with a fresh traceparent and follow it to the end
    through its status stream."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    status, order = http_call(
        "POST",
        f"{stack.base}/api/orders",
        BODY,
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert status == 201, order
    statuses = streamed_statuses(stack, str(order["id"]), str(order["access_token"]))
    # Live, not buffered to the end: the stream showed the order unfinished first.
    assert statuses[0] in ("pending", "processing") and statuses[-1] == "completed", statuses
    return TracedOrder(trace_id, parent, str(order["id"]))


def streamed_statuses(stack: Stack, order_id: str, token: str) -> list[str]:
    """The statuses GET /api/orders/<id>/stream sends, each read as it
    arrives, until the server ends the stream."""
    request = urllib.request.Request(
        f"{stack.base}/api/orders/{order_id}/stream",
        headers={"Authorization": f"Bearer {token}"},
    )
    statuses: list[str] = []
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response:
            if line.startswith(b"data: "):
                statuses.append(json.loads(line[6:])["status"])
    return statuses


def one_order_traced(
    stack: Stack, receiver: OtlpReceiver, *, timeout_s: float
) -> list[ReceivedSpan]:
    """The spans of one order placed on the started `stack` (stopped
    after), checked to form its one trace."""
    try:
        stack.wait_ready()
        order = place_traced(stack)
        spans = receiver.wait_for(of_trace(order.trace_id, 5), timeout_s=timeout_s)
    finally:
        stack.stop()
    traced = [s for s in spans if s.trace_id == order.trace_id]
    assert_one_trace(traced, order, stack.env["ORDERFLOW_ORDERS_TOPIC"])
    return traced


def assert_one_trace(spans: list[ReceivedSpan], order: TracedOrder, topic: str) -> None:
    """The POST under the client's span, the publish, the processing, and
    the cache write and the notification's send under the processing."""
    by_name = {span.name: span for span in spans}
    api = by_name["POST /api/orders"]
    assert api.parent_span_id == order.client_span_id
    publish, process = by_name[f"{topic} publish"], by_name[f"{topic} process"]
    cache, send = by_name["order cache write"], by_name["notification send"]
    assert publish.parent_span_id == api.span_id
    assert process.parent_span_id == publish.span_id
    assert cache.parent_span_id == process.span_id
    assert send.parent_span_id == process.span_id
    assert process.attributes["orderflow.order_id"] == order.order_id


def wait_until(done: Callable[[], bool], report: Callable[[], str]) -> None:
    """Poll `done` for up to 30 s; AssertionError with `report()` if it never holds."""
    deadline = time.monotonic() + 30
    while not done():
        assert time.monotonic() < deadline, report()
        time.sleep(0.1)


def of_trace(trace_id: str, names: int) -> Callable[[list[ReceivedSpan]], bool]:
    def done(spans: list[ReceivedSpan]) -> bool:
        return len({s.name for s in spans if s.trace_id == trace_id}) >= names

    return done


def test_embedded_serve_traces_one_order_from_the_post_to_the_notification(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = embedded_env(tmp_path, tracing_env(receiver))
    stack = seeded_stack(env, tmp_path)
    stack.spawn("serve", "serve", "--port", str(stack.port))
    traced = one_order_traced(stack, receiver, timeout_s=30)
    assert {s.service for s in traced} == {"orderflow"}


def test_serve_stopped_with_sigterm_exports_the_spans_its_batch_still_holds(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = embedded_env(
        tmp_path,
        # No export on schedule within the test: only the shutdown's flush sends.
        {**tracing_env(receiver), "OTEL_BSP_SCHEDULE_DELAY": "600000"},
    )
    stack = seeded_stack(env, tmp_path)
    stack.spawn("serve", "serve", "--port", str(stack.port))
    held_spans_after_sigterm(stack, receiver, notifier="serve")


def held_spans_after_sigterm(
    stack: Stack, receiver: OtlpReceiver, *, notifier: str
) -> list[ReceivedSpan]:
    """One order's spans on the started `stack`, whose batch delay holds them
    all: none has arrived once the order is notified (in `notifier`'s log),
    and every one has after SIGTERM, each process exiting cleanly."""
    try:
        stack.wait_ready()
        order = place_traced(stack)
        notified = f"notify order {order.order_id} (completed)"
        wait_until(lambda: notified in stack.log_of_this_start(notifier), stack.logs)
        assert not [s for s in receiver.spans() if s.trace_id == order.trace_id]
    finally:
        stack.stop()  # SIGTERM
    for entry in stack.processes.values():
        assert entry.process.returncode == 0, stack.logs()
    traced = [s for s in receiver.spans() if s.trace_id == order.trace_id]
    assert_one_trace(traced, order, stack.env["ORDERFLOW_ORDERS_TOPIC"])
    return traced


def kafka_stack(env: dict[str, str], tmp_path: Path) -> Stack:
    """The API (granian, one process), the relay and a worker on `env`, each
    naming itself in its spans."""
    stack = seeded_stack(env, tmp_path)
    for name, args in (
        ("api", ("api", "--port", str(stack.port), "--workers", "1")),
        ("relay", ("relay", "--metrics-port", str(free_port()))),
        ("worker", ("worker", "--metrics-port", str(free_port()))),
    ):
        stack.env = {**env, "OTEL_SERVICE_NAME": f"orderflow-{name}"}
        stack.spawn(name, *args)
    return stack


def assert_every_process_traced(spans: list[ReceivedSpan], topic: str) -> None:
    assert {(s.service, s.name) for s in spans} >= {
        ("orderflow-api", "POST /api/orders"),
        ("orderflow-relay", f"{topic} publish"),
        ("orderflow-worker", f"{topic} process"),
        ("orderflow-worker", "order cache write"),
        ("orderflow-relay", "notification send"),  # the relay runs the dispatcher
    }


def test_the_kafka_stack_traces_one_order_across_api_relay_and_worker(
    receiver: OtlpReceiver, mysql_url: str, kafka_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        **stack_env(database_url=mysql_url, broker_url=kafka_url, cache_url=redis_url),
        **tracing_env(receiver),
    }
    stack = kafka_stack(env, tmp_path)
    traced = one_order_traced(stack, receiver, timeout_s=60)
    assert_every_process_traced(traced, env["ORDERFLOW_ORDERS_TOPIC"])


def test_the_kafka_stack_stopped_with_sigterm_exports_the_spans_each_batch_holds(
    receiver: OtlpReceiver, mysql_url: str, kafka_url: str, redis_url: str, tmp_path: Path
) -> None:
    # A deploy stops every process with SIGTERM: the API (granian), the relay
    # and the worker each flush what their batch processor still holds.
    env = {
        **stack_env(database_url=mysql_url, broker_url=kafka_url, cache_url=redis_url),
        **tracing_env(receiver),
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the shutdown's flush sends
    }
    stack = kafka_stack(env, tmp_path)
    traced = held_spans_after_sigterm(stack, receiver, notifier="relay")
    assert_every_process_traced(traced, env["ORDERFLOW_ORDERS_TOPIC"])


def console_spans(output: str) -> list[ReceivedSpan]:
    """The spans ConsoleSpanExporter printed (one JSON object each, indented
    over several lines) in `output`, skipping anything else that got there."""
    decoder = json.JSONDecoder()
    spans: list[ReceivedSpan] = []
    position = 0
    while (start := output.find("{", position)) != -1:
        try:
            value, position = decoder.raw_decode(output, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(value, dict) and {"name", "context", "parent_id"} <= value.keys():
            spans.append(_console_span(value))
    return spans


def _console_span(printed: dict[str, Any]) -> ReceivedSpan:
    def hex_id(value: str | None) -> str:
        return (value or "").removeprefix("0x")

    return ReceivedSpan(
        service=str(printed["resource"]["attributes"].get("service.name", "")),
        name=printed["name"],
        trace_id=hex_id(printed["context"]["trace_id"]),
        span_id=hex_id(printed["context"]["span_id"]),
        parent_span_id=hex_id(printed["parent_id"]),
        attributes={key: str(value) for key, value in printed["attributes"].items()},
    )


def test_the_console_exporter_prints_one_orders_trace_on_serves_stdout(tmp_path: Path) -> None:
    env = embedded_env(
        tmp_path,
        {
            "OTEL_TRACES_EXPORTER": "console",
            # Long enough for the status stream to show the order unfinished.
            "ORDERFLOW_PROCESSING_DELAY_MS": "500",
        },
    )
    stack = seeded_stack(env, tmp_path)
    stack.spawn("serve", "serve", "--port", str(stack.port), stdout_apart=True)
    printed = tmp_path / "serve.out"
    try:
        stack.wait_ready()
        order = place_traced(stack)
        # The notification is sent after the order completes: wait for its span.
        wait_until(
            lambda: of_trace(order.trace_id, 5)(console_spans(printed.read_text())),
            lambda: printed.read_text()[-4000:] + stack.logs(),
        )
    finally:
        stack.stop()
    # A clean stop (SIGTERM), and what it printed read only after it.
    assert stack.processes["serve"].process.returncode == 0, stack.logs()
    traced = [s for s in console_spans(printed.read_text()) if s.trace_id == order.trace_id]
    assert_one_trace(traced, order, env["ORDERFLOW_ORDERS_TOPIC"])
    assert {s.service for s in traced} == {"orderflow"}
