"""JSON encoding for the SQL adapters' JSON columns: orjson (a C extension,
several times faster than the standard library on an order snapshot), with
the standard library's behaviour wherever the two would differ.

orjson refuses what `json.dumps` accepts: integers beyond 64 bits, strings
holding lone surrogates, non-string keys (without an option), and objects it
does not know (Decimal...) unless `default` handles them. Such a value is
encoded by `json.dumps` instead, so nothing that encoded before fails now.
What changes for everything else is only spelling: no spaces after `,` and
`:`, and non-ASCII characters as UTF-8 rather than `\\u` escapes (the same
JSON value for any reader). The domain keeps the standard library."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# Dates and dataclasses go to `default` (or json.dumps) as they would with the
# standard library, instead of orjson's own rendering of them.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_bytes(value: Any, *, default: Callable[[Any], Any] | None = None) -> bytes:
    """`value` as UTF-8 JSON bytes."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=default, separators=(",", ":")).encode()


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as JSON text (for drivers that bind text, such as SQLAlchemy's
    JSON columns)."""
    return dumps_bytes(value, default=default).decode()
