"""Customer-token settings checked at start: a JWKS URL is only trusted
together with the issuer and audience its tokens must name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orderflow.config import Settings

JWKS_URL = "https://id.example/.well-known/jwks.json"
ISSUER = "https://id.example"
AUDIENCE = "orderflow"


@pytest.mark.parametrize(
    ("issuer", "audience", "missing", "present"),
    [
        (None, AUDIENCE, "ORDERFLOW_AUTH_ISSUER", "ORDERFLOW_AUTH_AUDIENCE"),
        (ISSUER, None, "ORDERFLOW_AUTH_AUDIENCE", "ORDERFLOW_AUTH_ISSUER"),
        ("", AUDIENCE, "ORDERFLOW_AUTH_ISSUER", "ORDERFLOW_AUTH_AUDIENCE"),
    ],
)
def test_a_jwks_url_without_issuer_or_audience_is_refused_naming_the_missing_one(
    issuer: str | None, audience: str | None, missing: str, present: str
) -> None:
    with pytest.raises(
        ValidationError, match=f"ORDERFLOW_AUTH_JWKS_URL needs {missing}"
    ) as refused:
        Settings(auth_jwks_url=JWKS_URL, auth_issuer=issuer, auth_audience=audience)
    assert present not in str(refused.value)


def test_a_jwks_url_without_either_is_refused_naming_both() -> None:
    with pytest.raises(
        ValidationError,
        match="ORDERFLOW_AUTH_JWKS_URL needs ORDERFLOW_AUTH_ISSUER and ORDERFLOW_AUTH_AUDIENCE",
    ):
        Settings(auth_jwks_url=JWKS_URL, auth_issuer=None, auth_audience=None)


def test_a_jwks_url_with_issuer_and_audience_is_accepted() -> None:
    settings = Settings(auth_jwks_url=JWKS_URL, auth_issuer=ISSUER, auth_audience=AUDIENCE)
    assert settings.auth_kind == "jwks"
