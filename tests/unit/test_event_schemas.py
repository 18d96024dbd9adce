"""The committed event schemas (docs/events/*.json, docs/EVENTS.md's tables)
are what the code generates: a change to an event fails here until
`make schemas` is run and the diff committed (docs/EVENTS.md)."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from orderflow import Orderflow
from orderflow.adapters.envelope import encode
from orderflow.application.messages import to_outbox
from orderflow.application.processing import status_events
from orderflow.domain.events import OrderPlaced
from orderflow.domain.model import Order
from tests.unit.conftest import place_command
from tests.unit.journey import drain
from tools.schemas import EVENTS_DIR, EVENTS_DOC, events_doc, schema_files


def test_the_committed_json_schemas_are_the_generated_ones() -> None:
    expected = schema_files()
    assert sorted(EVENTS_DIR.glob("*.json")) == sorted(expected)
    for path, text in expected.items():
        assert path.read_text() == text, f"{path.name} is stale: run `make schemas`"


def test_the_events_page_holds_the_generated_tables() -> None:
    current = EVENTS_DOC.read_text()
    assert events_doc(current) == current, "docs/EVENTS.md is stale: run `make schemas`"


def test_each_schema_is_valid_json_schema() -> None:
    for path in schema_files():
        Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_the_messages_this_release_writes_match_their_schemas(app: Orderflow) -> None:
    placed = app.placement.place(place_command(("mouse", 2)))
    drain(app)
    order = app.queries.get(str(placed.order["id"]))
    events = [OrderPlaced.of(Order.from_dict(placed.order)), *status_events(order)]

    for message in to_outbox(events, topics=app.topics):
        schema = json.loads((EVENTS_DIR / f"{message.type_name}.json").read_text())
        Draft202012Validator(schema).validate(json.loads(encode(message)))
