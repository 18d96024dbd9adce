"""Structured JSON logs on stderr: one object per line, with the order id
when the log call carries one (`extra={"order_id": ...}`), and the trace id
(`trace_id`) when the line is written inside a trace."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from orderflow.entrypoints.tracing import trace_id_of

_CONTEXT_FIELDS = ("order_id", "status", "trace_id")


class TraceIdFilter(logging.Filter):
    """Stamps each record with the trace id of where it was logged (when
    there is one), while the caller's trace context is still current."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id = trace_id_of(getattr(record, "order_id", None))
        if trace_id is not None:
            record.trace_id = trace_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python is chatty at INFO about every connection it makes.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
