"""API keys on MongoDB: one document per key in `api_keys` (`_id` is the
key's id; `orderflow migrate` makes name and secret_digest unique). Every
change is a single-document atomic write."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from orderflow.adapters.mongo.documents import Document, get_time, put_time, time_sort
from orderflow.adapters.mongo.errors import translated
from orderflow.adapters.mongo.store import MongoStore
from orderflow.domain.errors import DuplicateKey
from orderflow.domain.identity import ApiKey, Role
from orderflow.ports.api_keys import ApiKeyStore


def _document(key: ApiKey) -> Document:
    doc: Document = {
        "_id": key.id,
        "name": key.name,
        "role": key.role.value,
        "secret_digest": key.secret_digest,
    }
    put_time(doc, "created_at", key.created_at)
    put_time(doc, "revoked_at", key.revoked_at)
    return doc


def _key_from(doc: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=str(doc["_id"]),
        name=doc["name"],
        role=Role(doc["role"]),
        secret_digest=doc["secret_digest"],
        created_at=get_time(doc, "created_at"),
        revoked_at=get_time(doc, "revoked_at") if doc.get("revoked_at") is not None else None,
    )


class MongoApiKeyStore(ApiKeyStore):
    def __init__(self, store: MongoStore) -> None:
        self._store = store

    @translated
    def add(self, key: ApiKey) -> None:
        # The unique index is the guard under races; this check names the
        # conflict even on a database `orderflow migrate` has not indexed.
        if self._store.api_keys.find_one({"name": key.name}, {"_id": 1}) is not None:
            raise DuplicateKey(f"API key name {key.name!r} already exists")
        self._store.api_keys.insert_one(_document(key))

    @translated
    def find_by_digest(self, secret_digest: str) -> ApiKey | None:
        if not isinstance(secret_digest, str):
            return None
        doc = self._store.api_keys.find_one({"secret_digest": secret_digest})
        return _key_from(doc) if doc is not None else None

    @translated
    def list_keys(self) -> list[ApiKey]:
        cursor = self._store.api_keys.find({}).sort([*time_sort("created_at"), ("_id", 1)])
        return [_key_from(doc) for doc in cursor]

    @translated
    def revoke(self, name_or_id: str, *, at: datetime) -> ApiKey | None:
        if not isinstance(name_or_id, str):
            return None
        revoked: Document = {}
        put_time(revoked, "revoked_at", at)
        for query in ({"name": name_or_id}, {"_id": name_or_id}):
            doc = self._store.api_keys.find_one_and_update(
                {**query, "revoked_at": None},
                {"$set": revoked},
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                doc = self._store.api_keys.find_one(query)
            if doc is not None:
                return _key_from(doc)
        return None
