"""Support for testing orderflow against real services (not imported by the
application itself). See orderflow.testing.services and docs/TEST-SERVICES.md."""
