"""Who is asking (`Authenticator`) and the API keys' life (`ApiKeys`).

A bearer secret says what it is: `oft_...` an order access token (checked
against the order it names, no lookup here), `ofk_...` an API key (looked up
by the digest of the secret), three dot-separated parts a customer JWT
(verified by the configured CustomerTokenVerifier). Anything else is
Unauthenticated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass

from orderflow.domain.errors import DuplicateKey, InvalidInput, Unauthenticated
from orderflow.domain.identity import (
    API_KEY_PREFIX,
    ORDER_TOKEN_PREFIX,
    ApiKey,
    Principal,
    Role,
    token_digest,
)
from orderflow.ports.api_keys import ApiKeyStore
from orderflow.ports.clock import Clock
from orderflow.ports.customer_tokens import CustomerTokenVerifier

SECRET_BYTES = 32  # 256 random bits in every API key and order token
MAX_SECRET = 8192  # longer bearers are refused unread (a JWT is far shorter)
MAX_KEY_NAME = 100


def new_order_token() -> str:
    """A fresh order access token: 256 random bits, URL-safe."""
    return ORDER_TOKEN_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def derived_order_token(secret: bytes, *, scope: str, key: str) -> str:
    """The access token of an order placed under Idempotency-Key `key` by the
    principal whose scope is `scope`: HMAC-SHA256 with the server secret, all
    256 bits, URL-safe. A replay recomputes it, so no store keeps the token
    itself. The message is labelled and JSON-encoded: it never equals the
    message an order id is derived from (so the id tells nothing of the
    token), and no two (scope, key) pairs share one, whatever they contain."""
    message = json.dumps(["access-token", scope, key]).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return ORDER_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, kw_only=True, slots=True)
class Authenticator:
    api_keys: ApiKeyStore
    customer_tokens: CustomerTokenVerifier

    def authenticate(self, secret: str) -> Principal:
        """The principal a bearer secret stands for; Unauthenticated if none."""
        if not secret or len(secret) > MAX_SECRET:
            raise Unauthenticated("empty or oversized bearer token")
        if secret.startswith(ORDER_TOKEN_PREFIX):
            return Principal.with_order_token(secret)
        if secret.startswith(API_KEY_PREFIX):
            key = self.api_keys.find_by_digest(token_digest(secret))
            if key is None:
                raise Unauthenticated("unknown API key")
            if not key.active:
                raise Unauthenticated(f"API key {key.name!r} was revoked")
            return Principal.with_api_key(key)
        if secret.count(".") == 2:
            return Principal.customer(self.customer_tokens.subject_of(secret))
        raise Unauthenticated("not a token this server issues or accepts")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, when the key is created; only its digest is kept


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKeys:
    """`orderflow keys create|list|revoke`."""

    store: ApiKeyStore
    clock: Clock

    def create(self, *, name: str, role: Role) -> IssuedKey:
        name = name.strip()
        if not name or len(name) > MAX_KEY_NAME or not name.isprintable():
            raise InvalidInput("name", f"must be 1 to {MAX_KEY_NAME} printable characters")
        secret = API_KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        key = ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            role=role,
            secret_digest=token_digest(secret),
            created_at=self.clock.now(),
        )
        try:
            self.store.add(key)
        except DuplicateKey:
            raise InvalidInput("name", f"an API key named {name!r} exists already") from None
        return IssuedKey(key=key, secret=secret)

    def list_keys(self) -> list[ApiKey]:
        return self.store.list_keys()

    def revoke(self, name_or_id: str) -> ApiKey | None:
        return self.store.revoke(name_or_id, at=self.clock.now())
