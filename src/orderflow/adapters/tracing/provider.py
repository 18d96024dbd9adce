"""The process's tracer provider, from the standard OTEL_* variables.

OTEL_TRACES_EXPORTER names the exporters (console, otlp; Settings checks
the names); everything else (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER and its argument, OTEL_EXPORTER_OTLP_*) is read by the
SDK itself. With tracing off nothing here runs, and OpenTelemetry's API
stays the no-op it is by default."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)

_DEFAULT_SERVICE = "orderflow"


def _processor(exporter: str) -> SpanProcessor:
    if exporter == "console":
        # Each span as it ends: console output is for reading and for tests.
        return SimpleSpanProcessor(ConsoleSpanExporter())
    # Imported only when used: it brings protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter())


def tracer_provider(exporters: Sequence[str]) -> TracerProvider:
    """A provider exporting to each of `exporters` (console, otlp)."""
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: _DEFAULT_SERVICE}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(_processor(exporter))
    return provider


def global_tracing(exporters: str) -> Iterator[bool]:
    """A container Resource: installs the process's provider for
    `exporters` (comma-separated; "none" installs nothing), flushes and
    shuts it down at the end. Yields whether tracing is on.

    OpenTelemetry keeps one global provider per process: where one is
    installed already (a second container, a library host's own), spans
    go to it."""
    names = [name for name in exporters.split(",") if name not in ("", "none")]
    if not names or isinstance(trace.get_tracer_provider(), TracerProvider):
        yield bool(names)
        return
    provider = tracer_provider(names)
    trace.set_tracer_provider(provider)
    try:
        yield True
    finally:
        provider.shutdown()
