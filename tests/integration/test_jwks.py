"""Customer tokens from a JWKS URL (production): RS256 keys served over HTTP
by a local stand-in for the issuer, fetched and verified by PyJWKClient."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import orderflow
from orderflow.adapters.pyjwt.verifier import FETCH_TIMEOUT_S
from orderflow.domain.errors import Unauthenticated
from orderflow.domain.identity import Principal
from tests.support.processes import LOCALHOST, free_port

ISSUER = "https://id.example"
AUDIENCE = "orderflow"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    payload = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    return jwt.encode({**payload, **claims}, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def flow(jwks_url: str) -> Iterator[orderflow.Orderflow]:
    app = orderflow.bootstrap(
        database_url="memory://",
        auth_jwks_url=jwks_url,
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
    )
    yield app
    app.close()


def test_a_token_signed_by_the_issuers_key_is_its_customer(
    flow: orderflow.Orderflow, signing_key: rsa.RSAPrivateKey
) -> None:
    assert flow.authenticator.authenticate(token(signing_key)) == Principal.customer("alice")


@pytest.mark.parametrize(
    "claims", [{"aud": "another-api"}, {"iss": "https://evil.example"}, {"exp": 1}]
)
def test_a_token_for_another_audience_issuer_or_time_is_refused(
    flow: orderflow.Orderflow, signing_key: rsa.RSAPrivateKey, claims: dict[str, Any]
) -> None:
    with pytest.raises(Unauthenticated):
        flow.authenticator.authenticate(token(signing_key, **claims))


def test_a_token_signed_by_another_key_is_refused(flow: orderflow.Orderflow) -> None:
    with pytest.raises(Unauthenticated):
        flow.authenticator.authenticate(token(new_key()))


def test_a_shared_key_token_is_refused_when_the_issuer_publishes_keys(
    flow: orderflow.Orderflow,
) -> None:
    forged = jwt.encode(
        {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60},
        "a guessed shared secret of 32 bytes or more",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthenticated):
        flow.authenticator.authenticate(forged)


def test_an_unreachable_jwks_refuses_the_token(signing_key: rsa.RSAPrivateKey) -> None:
    app = orderflow.bootstrap(
        database_url="memory://",
        auth_jwks_url=f"http://{LOCALHOST}:{free_port()}/.well-known/jwks.json",
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
    )
    try:
        started = time.monotonic()
        # Nothing listens there: the fetch fails, and the token is refused,
        # never trusted without its key.
        with pytest.raises(Unauthenticated):
            app.authenticator.authenticate(token(signing_key))
        assert time.monotonic() - started < FETCH_TIMEOUT_S
    finally:
        app.close()
