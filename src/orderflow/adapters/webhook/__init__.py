"""Notifications POSTed as JSON to an HTTP(S) webhook."""
