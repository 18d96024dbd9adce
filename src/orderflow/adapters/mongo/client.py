"""MongoClient from a `mongodb://host:port/dbname` URL.

The database comes from the URL's path (default `orderflow`). Timeouts are
short so an outage becomes StorageUnavailable within seconds, and the worker
pauses, instead of threads hanging for pymongo's 30 s defaults. Any of these
options given in the URL's query string wins over the default here."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

Document = dict[str, Any]

DEFAULT_DATABASE = "orderflow"

CLIENT_DEFAULTS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 3000,  # no reachable server: fail fast
    "connectTimeoutMS": 3000,
    "socketTimeoutMS": 15000,  # one round trip, not a whole unit of work
    "waitQueueTimeoutMS": 5000,  # a free pooled connection
    "maxPoolSize": 50,
    "w": "majority",  # acknowledged = on a majority: survives a failover (a 201 is durable)
    "retryWrites": True,  # a single-document write survives one failover
    "retryReads": True,
    "appname": "orderflow",
}


def database_name(url: str) -> str:
    """The database named by the URL's path, or `orderflow`."""
    name = parse_uri(url)["database"]
    return str(name) if name else DEFAULT_DATABASE


def make_client(url: str, **overrides: Any) -> MongoClient[Document]:
    """A client for `url`: timezone-aware datetimes (UTC), the defaults above
    unless the URL sets them, then `overrides`. Connects lazily."""
    given = {key.lower() for key in parse_uri(url)["options"]}
    options = {key: value for key, value in CLIENT_DEFAULTS.items() if key.lower() not in given}
    options.update(overrides)
    return MongoClient(url, tz_aware=True, **options)
