"""Real, thread-safe in-memory adapters: the embedded mode's queue and cache,
and the fast backend of the unit tests. They raise the same errors as the
database-backed adapters."""
