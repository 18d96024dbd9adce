"""The environment variables each `orderflow` command reads, as the epilog
of its --help. `orderflow --help` lists every Settings field, so a new
setting shows up there without anyone remembering to add it; each command
names the ones that change what it does (tests/unit/test_cli_help.py checks
that every name is a real setting)."""

from __future__ import annotations

from collections.abc import Iterable

from orderflow.config import Settings

PREFIX = "ORDERFLOW_"
# Read by every command, outside Settings.
COMMON = ("ORDERFLOW_ENV_FILE", "ORDERFLOW_LOG_LEVEL")

STORES = ("database_url",)
TRACING = ("traces_exporter",)
STREAMS = ("stream_interval_ms", "stream_max_s", "stream_max_concurrent")
BROKER = ("broker_url", "orders_topic", "events_topic", "dlq_topic", "partitions")
PROCESSING = (
    "cache_url",
    "cache_ttl",
    "notify_url",
    "consumer_group",
    "processing_delay_ms",
    "max_attempts",
    "retry_backoff_ms",
    "worker_batch_size",
    "fetch_wait_ms",
    "worker_assignment_grace_s",
)
RELAYING = (
    "notify_url",
    "stuck_after_s",
    "sweep_interval_s",
    "outbox_retention_h",
    "idempotency_retention_h",
    "purge_interval_s",
    "relay_interval_ms",
    "relay_batch_size",
    "notify_max_attempts",
    "notify_backoff_s",
    "notify_rate_limit",
    "cache_url",
)
IDENTITY = (
    "id_secret",
    "auth_jwt_key",
    "auth_jwks_url",
    "auth_issuer",
    "auth_audience",
    "auth_key_fresh_s",
    "auth_key_outage_s",
)
LIMITS = (
    "rate_limit",
    "rate_limit_key",
    "rate_limit_orders",
    "max_line_quantity",
    "max_order_quantity",
)
INTAKE = (
    *IDENTITY,
    *LIMITS,
    "cache_url",
    "cache_ttl",
    "consumer_group",
    "idempotency_retention_h",
    "metrics_cache_s",
    "metrics_source_timeout_s",
)

SUPERVISION = ("loop_restart_backoff_s", "loop_restart_max_backoff_s")
SERVING = (
    "max_body_bytes",
    "trusted_hosts",
    "header_timeout_s",
    "idle_timeout_s",
    "max_connections",
)

COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": (
        STORES + BROKER + PROCESSING + RELAYING + INTAKE + STREAMS + SUPERVISION + SERVING + TRACING
    ),
    "api": STORES + BROKER + INTAKE + STREAMS + SERVING + TRACING,
    "worker": STORES + BROKER + PROCESSING + TRACING,
    "relay": STORES + BROKER + RELAYING + TRACING,
    "migrate": STORES,
    "seed": STORES,
    "keys": STORES,
    "dlq": ("broker_url", "orders_topic", "dlq_topic", "consumer_group"),
}


def variable(field: str) -> str:
    """The environment variable of a Settings field (its alias, if it has
    one: OTEL_TRACES_EXPORTER is OpenTelemetry's, not ours)."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else PREFIX + field.upper()


def epilog(fields: Iterable[str]) -> str:
    """The epilog text: one variable per line (\\b keeps click from rewrapping)."""
    names = sorted({variable(f) for f in fields}) + list(COMMON)
    return "\b\nEnvironment (docs/CONTRACT.md, Configuration):\n" + "\n".join(
        f"  {name}" for name in dict.fromkeys(names)
    )


def command_epilog(command: str) -> str:
    return epilog(COMMANDS[command])


def main_epilog() -> str:
    """Every setting, for `orderflow --help`."""
    return epilog(Settings.model_fields)
