"""The delivery log: which (alert, destination) pairs are done, kept in Redis.

``relscore notify`` looks a pair up before it sends and records it once the destination has
taken the notification, or once it has gone to the dead-letter topic. A redelivered or
replayed alert therefore finds its pairs done and is not sent again. A crash between sending
and recording repeats that one notification, under the same idempotency key.

Why Redis and not a compacted topic: every notify process (and every restart) asks about
single pairs, which Redis answers at once, where a topic would have to be read whole at start
and kept in memory. Entries expire after ``ttl_s`` (90 days by default), long after any
redelivery. If Redis lost the log, only the alerts past notify's committed offsets would be
looked up again, and those carry their idempotency keys.
"""

from __future__ import annotations

from typing import Any

DEFAULT_TTL_S = 90 * 24 * 3600
DELIVERED = "delivered"
DEAD_LETTERED = "dead_lettered"
# held during a snooze, and not sent since the customer recovered before it ended
DROPPED = "dropped"
# added to a daily digest (streams/notify/digest.py), which is sent on its own schedule
DIGESTED = "digested"
OUTCOMES = (DELIVERED, DEAD_LETTERED, DROPPED, DIGESTED)


class DeliveryLog:
    """Done pairs under ``{prefix}notify:done:{destination}:{alert_id}``."""

    def __init__(self, client: Any, prefix: str, ttl_s: int = DEFAULT_TTL_S) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def key(self, alert_id: str, destination: str) -> str:
        """
        >>> DeliveryLog(None, "relscore:").key("c-1:recovered:2026-07-14T00:00:00Z", "cs-team")
        'relscore:notify:done:cs-team:c-1:recovered:2026-07-14T00:00:00Z'
        """
        return f"{self.prefix}notify:done:{destination}:{alert_id}"

    async def outcome(self, alert_id: str, destination: str) -> str | None:
        """One of :data:`OUTCOMES`, or None when the pair is not done yet."""
        value = await self.client.get(self.key(alert_id, destination))
        return None if value is None else bytes(value).decode()

    async def record(self, alert_id: str, destination: str, outcome: str) -> None:
        """Mark the pair done with ``outcome`` (one of :data:`OUTCOMES`)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        await self.client.set(self.key(alert_id, destination), outcome, ex=self.ttl_s)
