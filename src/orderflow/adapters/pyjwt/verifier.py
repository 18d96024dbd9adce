"""Customer JWTs verified with PyJWT, never by hand.

- `SharedKeyVerifier`: HS256 with a shared key (ORDERFLOW_AUTH_JWT_KEY), for
  development and tests.
- `JwksVerifier`: the issuer's public keys from its JWKS URL (PyJWKClient,
  which caches them and fetches again for an unknown `kid`), with issuer and
  audience required, RS256/ES256 only.
- `NoCustomerTokens`: no issuer configured; every JWT is refused.

Every token must carry `exp` and a non-empty `sub`; `iss` and `aud` are
checked whenever they are configured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jwt
from jwt.types import Options

from orderflow.domain.errors import Unauthenticated
from orderflow.domain.identity import MAX_SUBJECT
from orderflow.ports.customer_tokens import CustomerTokenVerifier

LEEWAY_S = 30  # clock skew between the issuer and this server
ASYMMETRIC = ("RS256", "ES256")
FETCH_TIMEOUT_S = 5.0  # a JWKS fetch that takes longer refuses the token


def _subject(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUBJECT:
        raise Unauthenticated(f"the token's sub must be 1 to {MAX_SUBJECT} characters")
    return sub


def _options(issuer: str | None, audience: str | None) -> Options:
    required = ["exp", "sub"]
    if issuer:
        required.append("iss")
    if audience:
        required.append("aud")
    return {"require": required}


class SharedKeyVerifier(CustomerTokenVerifier):
    def __init__(self, key: str, *, issuer: str | None = None, audience: str | None = None) -> None:
        if len(key.encode()) < 32:
            # RFC 7518 3.2: an HS256 key at least as long as the hash output.
            raise ValueError("ORDERFLOW_AUTH_JWT_KEY must be at least 32 bytes")
        self._key = key
        self._issuer = issuer or None
        self._audience = audience or None

    def subject_of(self, token: str) -> str:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_S,
                options=_options(self._issuer, self._audience),
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"customer token refused: {exc}") from None
        return _subject(claims)


class JwksVerifier(CustomerTokenVerifier):
    def __init__(
        self,
        url: str,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = ASYMMETRIC,
        timeout_s: float = FETCH_TIMEOUT_S,
    ) -> None:
        if not issuer or not audience:
            raise ValueError("a JWKS URL needs ORDERFLOW_AUTH_ISSUER and ORDERFLOW_AUTH_AUDIENCE")
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=timeout_s)
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)

    def subject_of(self, token: str) -> str:
        try:
            signing_key = self._client.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                signing_key.key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_S,
                options=_options(self._issuer, self._audience),
            )
        except jwt.PyJWTError as exc:  # PyJWKClientError (fetch, unknown kid) included
            raise Unauthenticated(f"customer token refused: {exc}") from None
        return _subject(claims)


class NoCustomerTokens(CustomerTokenVerifier):
    def subject_of(self, token: str) -> str:
        raise Unauthenticated("customer tokens are not configured on this server")
