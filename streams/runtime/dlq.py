"""Dead-letter messages: what was rejected, where it came from, and why."""

from __future__ import annotations

import base64
from typing import Any

from scorers.timefmt import format_ms

RAW_LIMIT_BYTES = 65536


def dlq_message(
    *,
    source_topic: str,
    partition: int | None,
    offset: int | None,
    error: str,
    reason: str,
    raw: bytes | None,
    received_at_ms: int,
) -> dict[str, Any]:
    """The ``relationship-dlq`` message for one rejected payload.

    ``raw`` is kept as text when it is UTF-8 and as base64 otherwise; over 64 KiB it is cut
    (``raw_truncated``) so a rejected oversized message still fits in the topic.
    """
    data = raw or b""
    truncated = len(data) > RAW_LIMIT_BYTES
    data = data[:RAW_LIMIT_BYTES]
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(data).decode("ascii"), "base64"
    return {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "error": error,
        "reason": reason,
        "raw": text,
        "raw_encoding": encoding,
        "raw_truncated": truncated,
        "received_at": format_ms(received_at_ms),
    }
