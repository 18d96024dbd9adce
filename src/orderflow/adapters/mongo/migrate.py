"""`orderflow migrate` for MongoDB: create the collections' indexes.

Idempotent: creating an index that exists with the same keys and options is
a no-op. Uniqueness that correctness depends on rests on `_id` (order ids,
product ids, Idempotency-Keys, outbox seqs), which needs no migration; the
indexes here make queries fast and deduplicate outbox messages by id.

The schema version this release needs is stored last, in one document of
the `schema` collection: api, worker and relay read it at start
(schema_state) and refuse a database that is behind. Raise SCHEMA_VERSION
with any change here that processes of this release depend on."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel

from orderflow.adapters.mongo.client import database_name, make_client
from orderflow.adapters.mongo.documents import (
    API_KEYS,
    EMBEDDED_OUTBOX,
    IDEMPOTENCY,
    ORDERS,
    OUTBOX,
    PRODUCTS,
    SCHEMA,
)
from orderflow.adapters.mongo.errors import translate_errors
from orderflow.ports.schema import SchemaState

SCHEMA_VERSION = 2  # 2: API keys (unique name and secret), orders by owner
_SCHEMA_ID = "orderflow"

INDEXES: dict[str, list[IndexModel]] = {
    ORDERS: [
        # list_stuck: status in (...) and updated_at < cutoff, oldest first.
        IndexModel(
            [("status", ASCENDING), ("updated_at", ASCENDING), ("updated_at_us", ASCENDING)],
            name="status_updated_at",
        ),
        # The relay finds orders whose outbox messages have not moved yet.
        IndexModel([(f"{EMBEDDED_OUTBOX}._id", ASCENDING)], name="embedded_outbox", sparse=True),
        # GET /api/orders: owner = ?, newest first.
        IndexModel(
            [("owner", ASCENDING), ("created_at", DESCENDING), ("created_at_us", DESCENDING)],
            name="owner_created_at",
        ),
    ],
    PRODUCTS: [
        IndexModel([("name_key", ASCENDING), ("_id", ASCENDING)], name="name_key"),
        IndexModel([("name", ASCENDING), ("_id", ASCENDING)], name="name"),
    ],
    OUTBOX: [
        IndexModel([("message_id", ASCENDING)], name="message_id", unique=True),
        # claim_batch: unpublished (published_at null) in seq (_id) order;
        # purge_published: published_at < cutoff.
        IndexModel([("published_at", ASCENDING), ("_id", ASCENDING)], name="published_at_seq"),
    ],
    API_KEYS: [
        # `_id` is the key's id; names and secrets are unique too.
        IndexModel([("name", ASCENDING)], name="name", unique=True),
        IndexModel([("secret_digest", ASCENDING)], name="secret_digest", unique=True),
    ],
    IDEMPOTENCY: [
        # `_id` is the key (unique); this serves purge(older_than).
        IndexModel([("created_at", ASCENDING)], name="created_at"),
    ],
}


def ensure_indexes(url: str) -> None:
    """Create every index the adapter uses in the URL's database."""
    client = make_client(url)
    try:
        db = client[database_name(url)]
        with translate_errors():
            for collection, models in INDEXES.items():
                db[collection].create_indexes(models)
            # Never lowered: an older release's migrate leaves a newer one's mark.
            db[SCHEMA].update_one(
                {"_id": _SCHEMA_ID}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True
            )
    finally:
        client.close()


def schema_state(url: str) -> SchemaState:
    """The stored schema version against SCHEMA_VERSION, read only."""
    client = make_client(url)
    try:
        with translate_errors():
            found = client[database_name(url)][SCHEMA].find_one({"_id": _SCHEMA_ID})
    finally:
        client.close()
    version = int(found["version"]) if found else 0
    if version == SCHEMA_VERSION:
        return "current"
    return "behind" if version < SCHEMA_VERSION else "ahead"
