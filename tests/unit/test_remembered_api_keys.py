"""The API key store as the services see it: verified keys remembered for a
moment, and accepted for longer while the database is down."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orderflow.adapters.memory.api_keys import MemoryApiKeyStore
from orderflow.adapters.remembered_api_keys import RememberedApiKeys
from orderflow.domain.errors import StorageUnavailable
from orderflow.domain.identity import ApiKey
from tests.contracts.api_key_store_contract import T0, ApiKeyStoreContract, a_key


class Outage(MemoryApiKeyStore):
    """A real memory store whose reads fail while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.reads = 0

    def find_by_digest(self, secret_digest: str) -> ApiKey | None:
        self.reads += 1
        if self.down:
            raise StorageUnavailable("database down (test)")
        return super().find_by_digest(secret_digest)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inner() -> Outage:
    return Outage()


@pytest.fixture
def keys(inner: Outage, clock: Clock) -> RememberedApiKeys:
    return RememberedApiKeys(
        inner, fresh_for=timedelta(seconds=5), usable_for=timedelta(hours=1), monotonic=clock
    )


class TestRememberedKeysKeepTheContract(ApiKeyStoreContract):
    @pytest.fixture
    def api_key_store(self, keys: RememberedApiKeys) -> RememberedApiKeys:
        return keys


def test_a_verified_key_is_answered_from_memory_for_a_few_seconds(
    keys: RememberedApiKeys, inner: Outage, clock: Clock
) -> None:
    key = a_key()
    keys.add(key)
    keys.find_by_digest(key.secret_digest)

    clock.now += 4
    assert keys.find_by_digest(key.secret_digest) == key
    assert inner.reads == 1
    clock.now += 2
    keys.find_by_digest(key.secret_digest)
    assert inner.reads == 2


def test_a_revocation_elsewhere_applies_once_the_memory_is_stale(
    keys: RememberedApiKeys, inner: Outage, clock: Clock
) -> None:
    key = a_key()
    keys.add(key)
    keys.find_by_digest(key.secret_digest)
    inner.revoke(key.name, at=T0)  # another process

    clock.now += 6
    found = keys.find_by_digest(key.secret_digest)
    assert found is not None and not found.active


def test_a_revocation_here_applies_at_once(keys: RememberedApiKeys) -> None:
    key = a_key()
    keys.add(key)
    keys.find_by_digest(key.secret_digest)

    keys.revoke(key.name, at=T0)

    found = keys.find_by_digest(key.secret_digest)
    assert found is not None and not found.active


def test_during_an_outage_recently_verified_keys_still_verify_and_others_do_not(
    keys: RememberedApiKeys, inner: Outage, clock: Clock
) -> None:
    known, unseen = a_key("known"), a_key("unseen")
    keys.add(known)
    keys.add(unseen)
    keys.find_by_digest(known.secret_digest)

    inner.down = True
    clock.now += 600
    assert keys.find_by_digest(known.secret_digest) == known
    with pytest.raises(StorageUnavailable):
        keys.find_by_digest(unseen.secret_digest)
    clock.now += 3600
    with pytest.raises(StorageUnavailable):
        keys.find_by_digest(known.secret_digest)


def test_only_so_many_keys_are_remembered(inner: Outage, clock: Clock) -> None:
    keys = RememberedApiKeys(
        inner,
        fresh_for=timedelta(seconds=5),
        usable_for=timedelta(hours=1),
        capacity=2,
        monotonic=clock,
    )
    added = [a_key(f"k{i}") for i in range(3)]
    for key in added:
        keys.add(key)
        keys.find_by_digest(key.secret_digest)

    inner.down = True
    with pytest.raises(StorageUnavailable):
        keys.find_by_digest(added[0].secret_digest)  # the oldest was let go
    assert keys.find_by_digest(added[2].secret_digest) == added[2]
