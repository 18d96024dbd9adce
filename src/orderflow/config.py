"""Configuration from ORDERFLOW_* environment variables (docs/CONTRACT.md: Configuration).

pydantic-settings does the parsing and validation, so a bad value fails at
start-up with the variable named, instead of deep inside an adapter. A file
named by ORDERFLOW_ENV_FILE (dotenv format, same names) may mirror them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DatabaseKind = Literal["memory", "sql", "mongo"]
BrokerKind = Literal["memory", "kafka"]
CacheKind = Literal["memory", "redis"]
NotifierKind = Literal["log", "memory", "smtp", "webhook"]
AuthKind = Literal["none", "shared_key", "jwks"]
TracingKind = Literal["off", "on"]
# OTEL_TRACES_EXPORTER values this release can export to.
TRACE_EXPORTERS = frozenset({"none", "console", "otlp"})

# The most units one order line may ever ask for (the request schema's
# bound); ORDERFLOW_MAX_LINE_QUANTITY can only lower it.
MAX_LINE_QUANTITY = 1000


# A DNS name (a leading dot: its subdomains too), an IPv4 address, or an
# IPv6 address in brackets, as each appears in a Host header.
_HOST_NAME = re.compile(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\]")


def default_database_url() -> str:
    # Not relative to the working directory: the embedded database lives in
    # the user's data directory, so `orderflow serve` finds it from anywhere.
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'orderflow' / 'orderflow.sqlite3'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERFLOW_",
        env_file=os.environ.get("ORDERFLOW_ENV_FILE"),
        extra="ignore",
        # bootstrap(traces_exporter=...) as well as OTEL_TRACES_EXPORTER.
        populate_by_name=True,
    )

    database_url: str = Field(default_factory=default_database_url)
    broker_url: str = "memory://"
    cache_url: str = "memory://"
    notify_url: str = "log://"
    orders_topic: str = "orders"
    events_topic: str = "order-events"
    dlq_topic: str = "orders.DLQ"
    consumer_group: str = "orderflow-workers"
    partitions: int = Field(default=6, ge=1, le=1024)
    cache_ttl: int = Field(default=3600, ge=1)
    processing_delay_ms: int = Field(default=0, ge=0, le=600_000)
    max_attempts: int = Field(default=3, ge=1, le=100)
    retry_backoff_ms: int = Field(default=100, ge=0)
    stuck_after_s: float = Field(default=300.0, gt=0)
    # How often the relay looks for stuck orders; default: a quarter of stuck_after_s.
    sweep_interval_s: float | None = Field(default=None, gt=0)
    idempotency_retention_h: float = Field(default=24.0, ge=24.0)
    outbox_retention_h: float = Field(default=24.0, gt=0)
    purge_interval_s: float = Field(default=600.0, gt=0)
    relay_interval_ms: int = Field(default=50, ge=1)
    relay_batch_size: int = Field(default=500, ge=1)
    worker_batch_size: int = Field(default=500, ge=1)
    # How long the broker may hold a worker's fetch when there is nothing to
    # read (Kafka's fetch.max.wait.ms): shorter polls more often when idle,
    # longer adds latency on a broker that holds a fetch for the whole wait
    # (docs/OPERATIONS.md: Tuning the workers' fetch wait).
    fetch_wait_ms: int = Field(default=20, ge=1, le=10_000)
    notify_max_attempts: int = Field(default=10, ge=1, le=100)
    notify_backoff_s: float = Field(default=2.0, ge=0)
    # Supervision of the embedded loops (serve, library use): restart backoff.
    loop_restart_backoff_s: float = Field(default=1.0, gt=0)
    loop_restart_max_backoff_s: float = Field(default=30.0, gt=0)
    # A worker process holding no partition this long is not ready (/ready).
    worker_assignment_grace_s: float = Field(default=60.0, ge=0)
    # Gauges read from shared state at scrape time (docs/OBSERVABILITY.md).
    metrics_cache_s: float = Field(default=5.0, ge=0)
    metrics_source_timeout_s: float = Field(default=1.0, gt=0)
    # Identity (docs/SECURITY.md). Keyed order ids are HMAC-SHA256 of the
    # principal's scope and the Idempotency-Key under this secret; unset, it
    # is generated beside an embedded SQLite file (adapters/id_secret.py).
    id_secret: SecretStr | None = None
    # Customer JWTs: a shared HS256 key (development), or a JWKS URL with
    # issuer and audience (production). Neither: customer tokens are refused.
    auth_jwt_key: SecretStr | None = None
    auth_jwks_url: str | None = None
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # API keys verified are remembered this long (a revocation reaches the
    # other processes within it), and accepted this long while the database
    # is down (adapters/remembered_api_keys.py).
    auth_key_fresh_s: float = Field(default=5.0, ge=0, le=300)
    auth_key_outage_s: float = Field(default=3600.0, ge=0)
    # Abuse limits (docs/SECURITY.md, API4), in the `limits` library's notation
    # ("N/second;M/minute"): every route but /health, per API key; per
    # customer or client address otherwise; placing orders, per customer or
    # address on top. Counted in Redis when the cache is redis://.
    rate_limit: str = "30/second;600/minute"
    rate_limit_key: str = "200/second"
    rate_limit_orders: str = "10/minute"
    # Units of one product on one line, and in a whole order.
    max_line_quantity: int = Field(default=100, ge=1, le=MAX_LINE_QUANTITY)
    max_order_quantity: int = Field(default=1000, ge=1)
    # Notifications to any one address, per dispatcher process (memory cache)
    # or across them (redis cache): past it they are given up, not retried.
    notify_rate_limit: str = "10/hour"
    # Serving, in both HTTP servers (docs/OPERATIONS.md: Serving). A body
    # declared longer than max_body_bytes is refused before it is read;
    # trusted_hosts is a comma-separated list of Host names (a leading dot
    # takes the subdomains too, `*` any host); unset: `serve` takes the
    # loopback names, `api` any host.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    trusted_hosts: str | None = None
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    idle_timeout_s: int = Field(default=30, ge=1, le=3600)
    max_connections: int = Field(default=500, ge=1, le=10_000)
    # Tracing (docs/OBSERVABILITY.md): the standard OpenTelemetry variable,
    # not an ORDERFLOW_ one; comma-separated, "none" (the default) is off.
    # The other OTEL_* variables are read by the OpenTelemetry SDK itself.
    traces_exporter: str = Field(default="none", validation_alias="OTEL_TRACES_EXPORTER")
    # GET /api/orders/<id>/stream (docs/API.md): how often a stream reads the
    # order, how long one lasts at most, how many this process serves at once.
    stream_interval_ms: int = Field(default=250, ge=10, le=60_000)
    stream_max_s: float = Field(default=60.0, gt=0, le=3600)
    stream_max_concurrent: int = Field(default=4, ge=0, le=10_000)

    @field_validator("traces_exporter")
    @classmethod
    def _known_exporters(cls, value: str) -> str:
        names = {name.strip() for name in value.split(",") if name.strip()} or {"none"}
        unknown = sorted(names - TRACE_EXPORTERS)
        if unknown:
            raise ValueError(f"unknown exporter {unknown[0]!r}: one of none, console, otlp")
        return ",".join(sorted(names - {"none"})) or "none"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme == "memory" or scheme.startswith(("sqlite", "mysql", "postgresql", "mongodb")):
            return value
        raise ValueError(f"unsupported database URL scheme {scheme!r}")

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("memory", "kafka"):
            raise ValueError("broker URL must be memory:// or kafka://host:port[,host:port]")
        return value

    @field_validator("cache_url")
    @classmethod
    def _known_cache(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("memory", "redis", "rediss"):
            raise ValueError("cache URL must be memory:// or redis://host:port/db")
        return value

    @field_validator("notify_url")
    @classmethod
    def _known_notifier(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("log", "memory", "smtp", "http", "https"):
            raise ValueError("notify URL must be log://, smtp://host:port?from=... or http(s)://")
        return value

    @field_validator("id_secret", "auth_jwt_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 bytes (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("rate_limit", "rate_limit_key", "rate_limit_orders", "notify_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("must be like 10/minute or 5/second;100/hour") from None
        return value

    @field_validator("trusted_hosts")
    @classmethod
    def _host_names(cls, value: str | None) -> str | None:
        names = [name.strip() for name in (value or "").split(",") if name.strip()]
        for name in names:
            if name != "*" and not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    "must be host names without ports, separated by commas "
                    "(e.g. shop.example.com,.example.com,[::1]), or *"
                )
        return ",".join(names) or None

    @property
    def trusted_host_names(self) -> tuple[str, ...] | None:
        """The configured Host names in lower case; None when unset, () for `*`."""
        if self.trusted_hosts is None:
            return None
        names = tuple(name.lower() for name in self.trusted_hosts.split(","))
        return () if "*" in names else names

    @field_validator("auth_jwks_url")
    @classmethod
    def _https_jwks(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("https", "http"):
            raise ValueError("must be an https:// URL (http:// on a trusted network only)")
        return value or None

    @model_validator(mode="after")
    def _jwks_names_its_issuer(self) -> Settings:
        if self.auth_jwks_url:
            missing = [
                name
                for name, value in (
                    ("ORDERFLOW_AUTH_ISSUER", self.auth_issuer),
                    ("ORDERFLOW_AUTH_AUDIENCE", self.auth_audience),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"ORDERFLOW_AUTH_JWKS_URL needs {' and '.join(missing)}")
        return self

    @property
    def auth_kind(self) -> AuthKind:
        if self.auth_jwks_url:
            return "jwks"
        return "shared_key" if self.auth_jwt_key is not None else "none"

    @property
    def tracing_kind(self) -> TracingKind:
        return "off" if self.traces_exporter == "none" else "on"

    @property
    def database_kind(self) -> DatabaseKind:
        scheme = urlsplit(self.database_url).scheme
        if scheme == "memory":
            return "memory"
        return "mongo" if scheme.startswith("mongodb") else "sql"

    @property
    def broker_kind(self) -> BrokerKind:
        return "kafka" if urlsplit(self.broker_url).scheme == "kafka" else "memory"

    @property
    def cache_kind(self) -> CacheKind:
        return "memory" if urlsplit(self.cache_url).scheme == "memory" else "redis"

    @property
    def limits_storage_url(self) -> str:
        """Where rate-limit counters live: the Redis of the cache, shared by
        every process, or this process's memory."""
        return "memory://" if self.cache_kind == "memory" else self.cache_url

    @property
    def notifier_kind(self) -> NotifierKind:
        scheme = urlsplit(self.notify_url).scheme
        if scheme in ("http", "https"):
            return "webhook"
        return "smtp" if scheme == "smtp" else "memory" if scheme == "memory" else "log"

    def as_config(self) -> dict[str, Any]:
        """The dict the dependency-injector container reads, kinds included."""
        return {
            **self.model_dump(),
            # Secrets as plain strings ("" when unset) for the builders.
            "id_secret": _reveal(self.id_secret),
            "auth_jwt_key": _reveal(self.auth_jwt_key),
            "auth_jwks_url": self.auth_jwks_url or "",
            "auth_issuer": self.auth_issuer or "",
            "auth_audience": self.auth_audience or "",
            "auth_kind": self.auth_kind,
            "database_kind": self.database_kind,
            "broker_kind": self.broker_kind,
            "cache_kind": self.cache_kind,
            "notifier_kind": self.notifier_kind,
            "limits_storage_url": self.limits_storage_url,
            "tracing_kind": self.tracing_kind,
        }


def _reveal(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret is not None else ""
