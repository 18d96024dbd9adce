"""Thin drivers of the services: HTTP API, CLI, worker and relay loops."""
