"""The ``relationship-notify-dlq`` messages: what could not be delivered, where, and why.

Two kinds, told apart by ``reason``: ``undeliverable`` (a destination refused the alert or
kept failing through its retries; the alert is kept whole, so it can be sent again by hand)
and ``not_an_alert`` (a record of the alerts topic that is not an alert at all). Neither
carries a destination's URL or secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scorers.timefmt import format_ms
from streams.notify.routes import Destination
from streams.notify.webhook_sender import Outcome

UNDELIVERABLE = "undeliverable"
NOT_AN_ALERT = "not_an_alert"


def undeliverable(alert: Mapping[str, Any], destination: Destination, outcome: Outcome,
                  failed_at_ms: int) -> dict[str, Any]:
    """The dead letter of an alert ``destination`` never took.

    >>> letter = undeliverable({"alert_id": "a1", "customer_id": "c-1"},
    ...     Destination("cs", "webhook", url="https://x/s3cret"),
    ...     Outcome(False, 6, "HTTP 503 after 6 attempts", 503), 1_790_000_000_000)
    >>> letter["reason"], letter["destination"], letter["error"], letter["failed_at"]
    ('undeliverable', 'cs', 'HTTP 503 after 6 attempts', '2026-09-21T14:13:20Z')
    >>> "s3cret" in str(letter)
    False
    """
    return {
        "reason": UNDELIVERABLE,
        "alert_id": alert.get("alert_id"),
        "customer_id": alert.get("customer_id"),
        "destination": destination.name,
        "kind": destination.kind,
        "error": outcome.reason,
        "status": outcome.status,
        "attempts": outcome.attempts,
        "failed_at": format_ms(failed_at_ms),
        "alert": dict(alert),
    }


def not_an_alert(partition: int, offset: int, error: str, raw: bytes | None,
                 failed_at_ms: int) -> dict[str, Any]:
    """The dead letter of a record of the alerts topic that cannot be read as an alert.

    >>> not_an_alert(2, 41, "missing alert_id", b"{}", 0)["raw"]
    '{}'
    """
    text = (raw or b"")[:65536].decode("utf-8", errors="replace")
    return {"reason": NOT_AN_ALERT, "partition": partition, "offset": offset, "error": error,
            "raw": text, "failed_at": format_ms(failed_at_ms)}
