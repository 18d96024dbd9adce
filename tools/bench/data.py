"""What the bench loads: a catalog of synthetic products (searchable words,
a hot set with stock enough for any run), order request bodies, and a
backlog of placed orders stored and published as intake and the relay would
have done it, but in bulk."""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from sqlalchemy import Engine, insert

from orderflow.adapters.envelope import encode
from orderflow.adapters.kafka.urls import bootstrap_servers
from orderflow.adapters.sqlalchemy.search_index import trigrams
from orderflow.adapters.sqlalchemy.tables import orders, product_trigrams, products
from orderflow.application.messages import Topics, to_outbox
from orderflow.domain.model import Customer, Order, OrderLine, PaymentMethod
from tools.bench.baseline_apps import mysql_connect

HOT_PRODUCTS = 1000  # orders name these, so they have stock for every run
HOT_STOCK = 1_000_000_000
ADJECTIVES = [
    "red",
    "blue",
    "green",
    "black",
    "white",
    "silver",
    "golden",
    "wooden",
    "steel",
    "compact",
    "deluxe",
    "classic",
    "modern",
    "rustic",
    "portable",
    "wireless",
    "smart",
    "quiet",
    "heavy",
    "light",
    "vintage",
    "premium",
    "basic",
]
NOUNS = [
    "lamp",
    "chair",
    "table",
    "desk",
    "laptop",
    "phone",
    "kettle",
    "toaster",
    "blender",
    "mixer",
    "speaker",
    "headset",
    "monitor",
    "keyboard",
    "mouse",
    "camera",
    "tripod",
    "backpack",
    "wallet",
    "jacket",
    "boot",
    "sneaker",
    "watch",
    "clock",
    "mirror",
    "rug",
    "pillow",
    "blanket",
    "vase",
    "bottle",
    "mug",
    "plate",
    "bowl",
    "knife",
    "spoon",
    "fork",
    "pan",
    "pot",
    "drill",
    "hammer",
    "saw",
    "wrench",
    "ladder",
    "bicycle",
    "helmet",
    "tent",
    "lantern",
    "stove",
    "cooler",
]
MATERIALS = [
    "oak",
    "pine",
    "walnut",
    "bamboo",
    "cotton",
    "wool",
    "linen",
    "leather",
    "nylon",
    "glass",
    "ceramic",
    "brass",
]
# Common words (a few percent of the catalog), a material, a rare model
# number, and text that matches nothing: a search's cost depends on all of it.
SEARCH_TERMS = (*NOUNS[:12], *MATERIALS[:6], "Deluxe Lamp", "model 04242", "zzqx-none")


def catalog(size: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for index in range(1, size + 1):
        adjective, noun, material = (
            rng.choice(ADJECTIVES),
            rng.choice(NOUNS),
            rng.choice(MATERIALS),
        )
        yield {
            "id": product_id(index),
            "name": f"{adjective.title()} {noun.title()} {index}",
            "description": (
                f"A {rng.choice(ADJECTIVES)} {noun} of {material}, model {index:05d}. "
                f"Ships in {rng.randint(1, 9)} days."
            ),
            "price": Decimal(rng.randint(100, 99_999)) / 100,
            "stock": HOT_STOCK if index <= HOT_PRODUCTS else rng.randint(0, 500),
        }


def product_id(index: int) -> str:
    return f"p-{index:06d}"


def load_catalog(engine: Engine, size: int) -> None:
    """The products and their search-index rows, as the repository's upsert
    writes them but in bulk (LOAD DATA: 100,000 products hold 2.5 million
    index rows). The generated text has no tab, newline or backslash, so
    nothing in the files needs escaping."""
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-catalog-") as folder:
        product_file, index_file = Path(folder) / "products.tsv", Path(folder) / "index.tsv"
        # The index rows go in key order (trigram, name, id): InnoDB then
        # appends instead of splitting pages, twice as fast and half the size.
        by_gram: dict[str, list[tuple[str, str]]] = {}
        with product_file.open("w") as items:
            for row in catalog(size):
                fields = (row["id"], row["name"], row["description"], row["price"], row["stock"])
                items.write("\t".join(str(f) for f in fields) + "\n")
                for gram in trigrams(row["name"], row["description"]):
                    by_gram.setdefault(gram, []).append((row["name"], row["id"]))
        with index_file.open("w") as index:
            for gram in sorted(by_gram):
                index.writelines(f"{gram}\t{name}\t{pid}\n" for name, pid in sorted(by_gram[gram]))
        url = engine.url.render_as_string(hide_password=False)
        connection = mysql_connect(url, local_infile=True)
        try:
            with connection.cursor() as cursor:
                for path, table, columns in (
                    (product_file, "products", "id, name, description, price, stock"),
                    (index_file, "product_trigrams", "trigram, name, product_id"),
                ):
                    cursor.execute(
                        f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} CHARACTER SET utf8mb4 "
                        f"({columns})",
                        (str(path),),
                    )
            connection.commit()
        finally:
            connection.close()


def order_body(rng: random.Random, hot: int = HOT_PRODUCTS) -> dict[str, Any]:
    lines = rng.randint(1, 3)
    chosen = rng.sample(range(1, hot + 1), lines)
    n = rng.randint(1, 10**6)
    return {
        "customer": {
            "name": f"Customer {n}",
            "email": f"customer{n}@example.com",
            "address": f"{n} Bench Street, Testville",
        },
        "items": [
            {"product_id": product_id(index), "quantity": rng.randint(1, 3)} for index in chosen
        ],
        "payment_method": rng.choice([m.value for m in PaymentMethod]),
    }


def order_bodies(count: int, *, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps(order_body(rng), separators=(",", ":")) for _ in range(count)]


def backlog_orders(count: int, *, seed: int = 13) -> list[Order]:
    """Placed orders priced as the catalog prices them (the same generator)."""
    rng = random.Random(seed)
    prices = {row["id"]: row["price"] for row in catalog(HOT_PRODUCTS)}
    now = datetime.now(UTC)
    placed: list[Order] = []
    for _ in range(count):
        body = order_body(rng)
        placed.append(
            Order.place(
                order_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                customer=Customer(**body["customer"]),
                items=tuple(
                    OrderLine(item["product_id"], item["quantity"], prices[item["product_id"]])
                    for item in body["items"]
                ),
                payment_method=PaymentMethod(body["payment_method"]),
                now=now,
            )
        )
    return placed


def store_orders(engine: Engine, placed: Sequence[Order], *, chunk: int = 2000) -> None:
    with engine.begin() as connection:
        for start in range(0, len(placed), chunk):
            connection.execute(
                insert(orders), [order_row(o) for o in placed[start : start + chunk]]
            )


def order_row(order: Order) -> dict[str, Any]:
    """An order as a row of the `orders` table (its public schema), built
    here rather than with the repository's own helper, which is private."""
    return {
        "id": order.id,
        "customer_name": order.customer.name,
        "customer_email": order.customer.email,
        "customer_address": order.customer.address,
        "payment_method": order.payment_method.value,
        "status": order.status.value,
        "failure_reason": order.failure_reason,
        "total": order.total,
        # Prices as strings, as the repository writes them: no float on the way.
        "items": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
            }
            for line in order.items
        ],
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "version": order.version,
        "history": [transition.to_dict() for transition in order.history],
    }


def publish_placed(broker_url: str, topics: Topics, placed: Sequence[Order]) -> None:
    """The OrderPlaced envelopes on the orders topic, keyed by order id, as
    the relay publishes them."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers(broker_url),
        acks="all",
        linger_ms=20,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    try:
        for order in placed:
            for message in to_outbox(order.events, topics=topics):
                producer.send(message.topic, key=message.key.encode(), value=encode(message))
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)


def insert_catalog(engine: Engine, size: int, *, chunk: int = 5000) -> None:
    """The products and their search-index rows through SQLAlchemy inserts,
    for databases without LOAD DATA (the embedded SQLite file)."""
    rows = list(catalog(size))
    grams = [
        {"trigram": gram, "name": row["name"], "product_id": row["id"]}
        for row in rows
        for gram in trigrams(row["name"], row["description"])
    ]
    with engine.begin() as connection:
        for table, values in ((products, rows), (product_trigrams, grams)):
            for start in range(0, len(values), chunk):
                connection.execute(insert(table), values[start : start + chunk])
