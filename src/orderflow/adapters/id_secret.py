"""The server secret keyed order ids are derived with (ORDERFLOW_ID_SECRET).

Configured: used as given. Not configured:
- embedded SQLite file: generated once (256 random bits) and kept beside the
  database as `id-secret` (mode 0600), so ids stay stable across restarts
  with nothing to configure;
- the memory database: random per process (the orders die with it too);
- any shared database: random per process, with a warning. `orderflow api`
  refuses to start that way (entrypoints/cli.py): processes that share a
  database must share the secret, or a retry during a database outage that
  reaches another process would get another id, and a duplicate order."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

FILE_NAME = "id-secret"


def sqlite_file(database_url: str) -> Path | None:
    """The SQLite database file of a sqlite URL; None for anything else."""
    if not database_url.startswith("sqlite"):
        return None
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _kept_beside(database: Path) -> bytes:
    path = database.parent / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under a temporary name, then linked into place: a
        # concurrent start either wins the link or reads the winner's file,
        # never a half-written one.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE_NAME}-")
        try:
            with os.fdopen(fd, "w") as file:  # mkstemp: mode 0600
                file.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    value = path.read_text().strip()
    if len(value) < 32:
        raise RuntimeError(f"{path} holds no usable secret; delete it to have one generated")
    return value.encode()


def resolve_id_secret(configured: str, database_url: str) -> bytes:
    if configured:
        return configured.encode()
    if database_url.startswith("memory"):
        return secrets.token_bytes(32)
    database = sqlite_file(database_url)
    if database is not None:
        return _kept_beside(database)
    log.warning(
        "ORDERFLOW_ID_SECRET is not set: keyed order ids use a secret of this process only; "
        "set the same secret on every process that shares the database"
    )
    return secrets.token_bytes(32)
