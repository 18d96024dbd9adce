"""Port contract suites: abstract test classes that every adapter of a port
passes. A subclass in tests/unit (memory adapters) or tests/integration (real
services) supplies only the fixtures the suite names."""
