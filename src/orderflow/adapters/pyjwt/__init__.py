"""Customer tokens verified with PyJWT."""
