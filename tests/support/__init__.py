"""Support for testing orderflow against real services (not imported by the
application itself). See tests.support.services and docs/TEST-SERVICES.md."""
