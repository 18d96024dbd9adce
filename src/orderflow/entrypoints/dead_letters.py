"""Dead-letter records: what the DLQ topic holds for a message that can
never be processed. The original bytes are kept exactly (base64), with the
error, the attempt count and the time, so an operator can inspect or replay."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from orderflow.ports.messaging import Delivery
from orderflow.ports.outbox import OutboxMessage

DEAD_LETTER_TYPE = "DeadLetter"


def dead_letter(
    delivery: Delivery, *, error: BaseException, attempts: int, topic: str, now: datetime
) -> OutboxMessage:
    payload: dict[str, Any] = {
        "original_value_b64": base64.b64encode(delivery.value).decode(),
        "original_text": delivery.value.decode("utf-8", errors="replace"),
        "source": {
            "topic": delivery.topic,
            "partition": delivery.partition,
            "offset": delivery.offset,
            "key": delivery.key,
        },
        "error": f"{type(error).__name__}: {error}",
        "attempts": attempts,
        "failed_at": now.isoformat(),
    }
    return OutboxMessage(
        message_id=str(uuid.uuid4()),
        topic=topic,
        key=delivery.key or "",
        type_name=DEAD_LETTER_TYPE,
        payload=payload,
        created_at=now,
    )


def original_value(payload: dict[str, Any]) -> bytes:
    return base64.b64decode(payload["original_value_b64"])
