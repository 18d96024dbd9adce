"""Principals, customer JWTs, keyed order ids and the ID secret."""

from __future__ import annotations

import base64
import stat
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr, ValidationError

import orderflow
from orderflow.adapters.id_secret import FILE_NAME, resolve_id_secret
from orderflow.adapters.pyjwt.verifier import NoCustomerTokens, SharedKeyVerifier
from orderflow.application.identity import derived_order_token
from orderflow.application.placing import access_token_for, order_id_for
from orderflow.config import Settings
from orderflow.domain.errors import Unauthenticated
from orderflow.domain.identity import (
    ANONYMOUS_SCOPE,
    Principal,
    PrincipalKind,
    Role,
    token_digest,
)
from orderflow.domain.model import Product
from tests.contracts.persistence_contract import an_order
from tests.unit.conftest import place_command

KEY = "a shared HS256 key of at least 32 bytes"
SECRET_A = b"server A's id secret, 32 bytes or more"
SECRET_B = b"server B's id secret, 32 bytes or more"


def token(claims: Mapping[str, object], key: str = KEY, algorithm: str = "HS256") -> str:
    return jwt.encode({"exp": int(time.time()) + 60, **claims}, key, algorithm=algorithm)


# --- keyed order ids ------------------------------------------------------------------


def test_a_keyed_order_id_depends_on_the_server_secret_and_the_principal() -> None:
    command = place_command(("mouse", 1), key="checkout-42")
    alice = Principal.customer("alice")

    same = order_id_for(command, secret=SECRET_A)
    assert order_id_for(command, secret=SECRET_A) == same  # a retry finds its id
    assert order_id_for(command, secret=SECRET_B) != same
    assert order_id_for(replace(command, principal=alice), secret=SECRET_A) != same
    assert order_id_for(replace(command, idempotency_key=None), secret=SECRET_A) != same


# --- keyed order access tokens --------------------------------------------------------


def test_a_derived_token_depends_on_the_secret_the_scope_and_the_key() -> None:
    same = derived_order_token(SECRET_A, scope="customer:alice", key="checkout-42")

    assert derived_order_token(SECRET_A, scope="customer:alice", key="checkout-42") == same
    assert derived_order_token(SECRET_B, scope="customer:alice", key="checkout-42") != same
    assert derived_order_token(SECRET_A, scope="customer:bob", key="checkout-42") != same
    assert derived_order_token(SECRET_A, scope=ANONYMOUS_SCOPE, key="checkout-42") != same
    assert derived_order_token(SECRET_A, scope="customer:alice", key="checkout-43") != same


def test_a_scope_and_key_split_elsewhere_give_another_token() -> None:
    """The message is unambiguous: a newline moved from the scope to the key
    is another pair, so another token."""
    assert derived_order_token(SECRET_A, scope="customer:a\nb", key="k") != (
        derived_order_token(SECRET_A, scope="customer:a", key="b\nk")
    )


def test_a_derived_token_is_an_order_token_of_256_bits() -> None:
    derived = derived_order_token(SECRET_A, scope=ANONYMOUS_SCOPE, key="checkout-42")

    assert derived.startswith("oft_")
    body = derived.removeprefix("oft_")
    assert len(body) == 43  # 32 bytes, URL-safe base64 without padding
    assert set(body) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert Principal.with_order_token(derived).kind is PrincipalKind.ORDER_TOKEN


def test_a_keyed_commands_token_is_derived_and_tells_nothing_of_its_id() -> None:
    command = place_command(("mouse", 1), key="checkout-42")
    alice = replace(command, principal=Principal.customer("alice"))

    derived = access_token_for(command, secret=SECRET_A)
    order_id = order_id_for(command, secret=SECRET_A)

    assert derived == access_token_for(command, secret=SECRET_A)  # a replay recomputes it
    assert derived == derived_order_token(SECRET_A, scope=ANONYMOUS_SCOPE, key="checkout-42")
    assert access_token_for(alice, secret=SECRET_A) != derived
    # The id is the first 16 bytes of another HMAC: none of them are in the token.
    id_bytes = bytes.fromhex(order_id.replace("-", ""))
    token_bytes = base64.urlsafe_b64decode(derived.removeprefix("oft_") + "=")
    assert id_bytes[:6] not in token_bytes and id_bytes[8:14] not in token_bytes
    assert order_id.replace("-", "") not in derived


def test_an_unkeyed_commands_token_is_random() -> None:
    command = place_command(("mouse", 1))

    tokens = {access_token_for(command, secret=SECRET_A) for _ in range(3)}

    assert len(tokens) == 3
    assert all(t.startswith("oft_") and len(t) == len("oft_") + 43 for t in tokens)


def test_two_servers_with_different_secrets_give_one_key_different_ids() -> None:
    ids = []
    for secret in (SECRET_A, SECRET_B):
        app = orderflow.bootstrap(database_url="memory://", id_secret=secret.decode())
        app.catalog.upsert_many([Product("mouse", "Mouse", "", Decimal("1"), 5)])
        ids.append(app.placement.place(place_command(("mouse", 1), key="known-key")).order["id"])
        app.close()

    assert ids[0] != ids[1]


def test_without_a_configured_secret_an_embedded_database_keeps_one_beside_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'orderflow.sqlite3'}"

    first = resolve_id_secret("", url)
    again = resolve_id_secret("", url)

    assert first == again and len(first) >= 32
    mode = (tmp_path / FILE_NAME).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert resolve_id_secret("configured secret of 32 bytes or more", url) != first


def test_without_a_configured_secret_a_shared_database_gets_one_per_process() -> None:
    url = "postgresql+psycopg://db.example/orderflow"
    assert resolve_id_secret("", url) != resolve_id_secret("", url)


def test_short_secrets_are_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="id_secret"):
        Settings(id_secret=SecretStr("short"))
    with pytest.raises(ValidationError, match="auth_jwt_key"):
        Settings(auth_jwt_key=SecretStr("short"))


# --- principals -----------------------------------------------------------------------


def test_an_order_token_owns_only_the_order_holding_its_digest() -> None:
    order = an_order()
    order.access_token_digest = token_digest("oft_right")

    assert Principal.with_order_token("oft_right").owns(order)
    assert not Principal.with_order_token("oft_wrong").owns(order)
    assert not Principal.with_order_token("oft_right").may_list


def test_customers_and_keys_own_what_they_placed_and_ops_reads_everything() -> None:
    order = an_order()
    order.owner = Principal.customer("alice").owner
    ops = Principal(PrincipalKind.API_KEY, "k-ops", Role.OPS)
    shop = Principal(PrincipalKind.API_KEY, "k-shop", Role.SHOP)

    assert Principal.customer("alice").may_cancel(order)
    assert not Principal.customer("bob").may_read(order)
    assert not shop.may_read(order)
    assert ops.may_read(order) and not ops.may_cancel(order)


def test_every_principal_but_an_ops_key_may_place_and_list_its_own() -> None:
    ops = Principal(PrincipalKind.API_KEY, "k-ops", Role.OPS)
    shop = Principal(PrincipalKind.API_KEY, "k-shop", Role.SHOP)

    assert not ops.may_place and not ops.may_list
    assert shop.may_place and shop.may_list
    assert Principal.customer("alice").may_place and Principal.customer("alice").may_list
    assert Principal.with_order_token("oft_x").may_place


def test_an_anonymous_order_is_owned_by_no_customer_or_key() -> None:
    order = an_order()  # owner None, no token digest

    for principal in (Principal.customer("x"), Principal.with_order_token("oft_x")):
        assert not principal.may_read(order)


def test_scopes_keep_principals_apart() -> None:
    scopes = [
        Principal.customer("alice").idempotency_scope,
        Principal.customer("bob").idempotency_scope,
        Principal(PrincipalKind.API_KEY, "alice", Role.SHOP).idempotency_scope,
        ANONYMOUS_SCOPE,
    ]
    assert len(set(scopes)) == len(scopes)
    # An order token places nothing of its own: its orders are anonymous.
    assert Principal.with_order_token("oft_a").idempotency_scope == ANONYMOUS_SCOPE


# --- customer tokens ------------------------------------------------------------------


def test_a_shared_key_token_gives_its_sub() -> None:
    assert SharedKeyVerifier(KEY).subject_of(token({"sub": "alice"})) == "alice"


@pytest.mark.parametrize(
    "bad",
    [
        token({"sub": "alice"}, key="another key of at least 32 bytes!!"),
        token({"sub": "alice", "exp": int(time.time()) - 3600}),
        jwt.encode({"sub": "alice"}, KEY, algorithm="HS256"),  # no exp
        token({"sub": ""}),
        token({"sub": "x" * 201}),
        jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, KEY * 2, algorithm="HS512"),
        jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, "", algorithm="none"),
        "a.b.c",
    ],
    ids=["signature", "expired", "no-exp", "empty-sub", "long-sub", "hs512", "alg-none", "junk"],
)
def test_tokens_that_do_not_verify_are_unauthenticated(bad: str) -> None:
    with pytest.raises(Unauthenticated):
        SharedKeyVerifier(KEY).subject_of(bad)


def test_issuer_and_audience_are_required_when_configured() -> None:
    verifier = SharedKeyVerifier(KEY, issuer="https://id.example", audience="orderflow")

    good = token({"sub": "a", "iss": "https://id.example", "aud": "orderflow"})
    assert verifier.subject_of(good) == "a"
    for claims in ({"sub": "a"}, {"sub": "a", "iss": "https://id.example", "aud": "other"}):
        with pytest.raises(Unauthenticated):
            verifier.subject_of(token(claims))


def test_without_an_issuer_configured_every_jwt_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        NoCustomerTokens().subject_of(token({"sub": "alice"}))


def test_the_authenticator_routes_each_kind_of_secret() -> None:
    app = orderflow.bootstrap(database_url="memory://", auth_jwt_key=KEY)
    try:
        issued = app.api_keys.create(name="shop", role=Role.SHOP)
        auth = app.authenticator
        assert auth.authenticate("oft_abc") == Principal.with_order_token("oft_abc")
        assert auth.authenticate(issued.secret).subject == issued.key.id
        assert auth.authenticate(token({"sub": "alice"})) == Principal.customer("alice")
        for bad in ("", "ofk_unknown", "plain", "x" * 9000):
            with pytest.raises(Unauthenticated):
                auth.authenticate(bad)
    finally:
        app.close()


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orderflow.sqlite3'}"
    barrier = threading.Barrier(8)

    def start() -> bytes:
        barrier.wait()
        return resolve_id_secret("", url)

    with ThreadPoolExecutor(8) as pool:
        secrets_seen = set(pool.map(lambda _: start(), range(8)))

    assert len(secrets_seen) == 1
    assert [p.name for p in tmp_path.iterdir()] == [FILE_NAME]  # no temporary left behind
