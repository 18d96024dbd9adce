"""MongoDB adapter: the persistence ports over pymongo, atomic without
multi-document transactions (docs/MONGODB.md)."""
