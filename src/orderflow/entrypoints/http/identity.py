"""Who sent the current request: `Authorization: Bearer <secret>`, the only
place credentials are read (no cookie, no query parameter carries any).

`current_principal()` resolves the header once per request and keeps the
result on `flask.g`: other hooks (rate limits per API key or customer, the
ops key of /metrics) read it there through this function."""

from __future__ import annotations

from flask import g, request

from orderflow.domain.errors import Unauthenticated
from orderflow.domain.identity import Principal
from orderflow.entrypoints.http.context import current_orderflow

_RESOLVED = "orderflow_principal"
_SCHEME = "bearer"


def current_principal() -> Principal | None:
    """The request's principal; None without an Authorization header.
    Raises Unauthenticated (401) for a header that is not a Bearer token or
    a token that does not verify: a bad credential is never taken for none."""
    if _RESOLVED in g:
        resolved: Principal | None = g.get(_RESOLVED)
        return resolved
    header = request.headers.get("Authorization")
    principal = None if header is None else _authenticate(header)
    setattr(g, _RESOLVED, principal)
    return principal


def required_principal() -> Principal:
    """The request's principal, or Unauthenticated (401) when there is none."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this route needs credentials: Authorization: Bearer <token>")
    return principal


def _authenticate(header: str) -> Principal:
    scheme, _, secret = header.strip().partition(" ")
    if scheme.lower() != _SCHEME or not secret.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return current_orderflow().authenticator.authenticate(secret.strip())
