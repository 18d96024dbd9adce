"""The ABCs the domain services depend on. Standard library only.

Every port has an in-memory adapter (adapters/memory) and a contract suite
(tests/contracts) that every adapter of it passes."""
