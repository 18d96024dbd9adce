"""How messages become bytes on the broker and back."""

from __future__ import annotations

from abc import ABC, abstractmethod

from orderflow.domain.events import Event
from orderflow.ports.outbox import OutboxMessage


class MessageCodec(ABC):
    @abstractmethod
    def encode(self, message: OutboxMessage) -> bytes:
        """The bytes of the message's value on the broker."""

    @abstractmethod
    def decode(self, value: bytes) -> Event:
        """The event a message's value carries. Raises PermanentMessageError
        when it never could be decoded (undecodable, invalid, an unknown
        schema version): such a message goes to the dead-letter topic."""
