"""The contract every ApiKeyStore adapter keeps.

Subclass ApiKeyStoreContract in a module named test_*.py and provide an
`api_key_store` fixture over an EMPTY store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from orderflow.domain.errors import DuplicateKey
from orderflow.domain.identity import ApiKey, Role, token_digest
from orderflow.ports.api_keys import ApiKeyStore

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def a_key(name: str = "shop-1", *, role: Role = Role.SHOP, at: datetime = T0) -> ApiKey:
    return ApiKey(
        id=str(uuid.uuid4()),
        name=name,
        role=role,
        secret_digest=token_digest(f"ofk_{uuid.uuid4().hex}"),
        created_at=at,
    )


class ApiKeyStoreContract:
    def test_a_key_is_found_by_the_digest_of_its_secret_with_every_field(
        self, api_key_store: ApiKeyStore
    ) -> None:
        key = a_key(role=Role.OPS)
        api_key_store.add(key)

        assert api_key_store.find_by_digest(key.secret_digest) == key
        assert api_key_store.find_by_digest(token_digest("ofk_other")) is None

    def test_names_are_unique_even_after_a_revocation(self, api_key_store: ApiKeyStore) -> None:
        first = a_key("billing")
        api_key_store.add(first)
        api_key_store.revoke("billing", at=T0)

        with pytest.raises(DuplicateKey):
            api_key_store.add(a_key("billing"))
        assert api_key_store.list_keys() == [api_key_store.find_by_digest(first.secret_digest)]

    def test_keys_are_listed_oldest_first_revoked_ones_included(
        self, api_key_store: ApiKeyStore
    ) -> None:
        keys = [a_key(f"k{i}", at=T0 + timedelta(seconds=i)) for i in (2, 0, 1)]
        for key in keys:
            api_key_store.add(key)
        api_key_store.revoke("k0", at=T0 + timedelta(minutes=1))

        listed = api_key_store.list_keys()

        assert [key.name for key in listed] == ["k0", "k1", "k2"]
        assert [key.active for key in listed] == [False, True, True]

    def test_revoking_by_name_or_id_keeps_the_first_revocation_time(
        self, api_key_store: ApiKeyStore
    ) -> None:
        by_name, by_id = a_key("a"), a_key("b")
        api_key_store.add(by_name)
        api_key_store.add(by_id)
        first, later = T0 + timedelta(hours=1), T0 + timedelta(hours=2)

        revoked = api_key_store.revoke("a", at=first)
        again = api_key_store.revoke("a", at=later)
        revoked_by_id = api_key_store.revoke(by_id.id, at=first)

        assert revoked is not None and revoked.revoked_at == first
        assert again is not None and again.revoked_at == first
        assert revoked_by_id is not None and revoked_by_id.name == "b"
        found = api_key_store.find_by_digest(by_name.secret_digest)
        assert found is not None and not found.active

    def test_revoking_an_unknown_key_is_none_and_changes_nothing(
        self, api_key_store: ApiKeyStore
    ) -> None:
        key = a_key()
        api_key_store.add(key)

        assert api_key_store.revoke("no-such-key", at=T0) is None
        assert api_key_store.list_keys() == [key]
