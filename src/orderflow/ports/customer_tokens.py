"""Customer tokens: JWTs from a configured issuer, verified by a kept library."""

from __future__ import annotations

from abc import ABC, abstractmethod


class CustomerTokenVerifier(ABC):
    @abstractmethod
    def subject_of(self, token: str) -> str:
        """The verified token's `sub` (a non-empty string). Raises
        Unauthenticated, with the reason, for a token that does not verify:
        bad signature, wrong algorithm, issuer or audience, expired, no `sub`,
        or no verifier configured. StorageUnavailable-like outages of a JWKS
        endpoint are Unauthenticated too: the token cannot be trusted."""
