"""Daily digests: one email a day per recipient instead of one per alert.

An email destination with ``digest = true`` collects its alerts in Redis, per recipient (the
fixed address, or each owner's). Once a day, from ``digest_hour`` (UTC) on, each recipient
with alerts waiting gets one email listing them; a recipient whose first alert of the day
comes later gets it then. At most one digest per recipient and day, under the idempotency
id ``digest:{destination}:{recipient}:{day}``.

Keys: ``{prefix}notify:digest:{destination}:pending:{recipient}`` (a list of entries) and
``{prefix}notify:digest:{destination}:sent:{day}:{recipient}`` (set once sent, for 3 days).
A digest's entries are removed only after it was sent (or dead-lettered): a crash in between
sends it again on restart, under the same id.
"""

from __future__ import annotations

from typing import Any

import orjson

from scorers.timefmt import format_ms

SENT_TTL_S = 3 * 24 * 3600


def digest_day(now_ms: int) -> str:
    """The UTC day a digest belongs to.

    >>> digest_day(1_795_168_800_000)
    '2026-11-20'
    """
    return format_ms(now_ms)[:10]


def digest_due(now_ms: int, hour: int) -> bool:
    """Whether digests may go out at ``now_ms``: from ``hour`` o'clock UTC on.

    >>> digest_due(1_795_168_800_000, 8), digest_due(1_795_168_800_000, 11)  # 10:00 UTC
    (True, False)
    """
    return int(format_ms(now_ms)[11:13]) >= hour


def digest_id(destination: str, recipient: str, day: str) -> str:
    """
    >>> digest_id("owner-mail", "ana@example.com", "2026-11-20")
    'digest:owner-mail:ana@example.com:2026-11-20'
    """
    return f"digest:{destination}:{recipient}:{day}"


def unique_entries(raw: list[bytes]) -> list[dict[str, Any]]:
    """The entries of a pending list, each alert once (a crash may have added one twice),
    oldest ``as_of`` first.

    >>> a = orjson.dumps({"alert": {"alert_id": "a", "as_of": "2026-11-20T10:00:00Z"}})
    >>> b = orjson.dumps({"alert": {"alert_id": "b", "as_of": "2026-11-19T10:00:00Z"}})
    >>> [e["alert"]["alert_id"] for e in unique_entries([a, b, a])]
    ['b', 'a']
    """
    entries: dict[str, dict[str, Any]] = {}
    for value in raw:
        entry = orjson.loads(value)
        entries.setdefault(str(entry["alert"]["alert_id"]), entry)
    return sorted(entries.values(), key=lambda e: (str(e["alert"].get("as_of")),
                                                    str(e["alert"]["alert_id"])))


class DigestBook:
    """One digest destination's waiting alerts and sent days, in Redis."""

    def __init__(self, client: Any, prefix: str, destination: str) -> None:
        self.client = client
        self.base = f"{prefix}notify:digest:{destination}:"

    def _pending(self, recipient: str) -> str:
        return f"{self.base}pending:{recipient}"

    def _sent(self, recipient: str, day: str) -> str:
        return f"{self.base}sent:{day}:{recipient}"

    async def add(self, recipient: str, alert: dict[str, Any], owner: str | None) -> None:
        await self.client.rpush(self._pending(recipient),
                                orjson.dumps({"alert": alert, "owner": owner}))

    async def recipients(self) -> list[str]:
        """Everyone with alerts waiting."""
        prefix = self._pending("")
        found = [bytes(key).decode() async for key in self.client.scan_iter(
            match=prefix + "*", count=500)]
        return sorted(key[len(prefix):] for key in found)

    async def pending(self, recipient: str) -> list[bytes]:
        return [bytes(value) for value in await self.client.lrange(self._pending(recipient),
                                                                   0, -1)]

    async def sent(self, recipient: str, day: str) -> bool:
        return bool(await self.client.exists(self._sent(recipient, day)))

    async def settle(self, recipient: str, taken: int, day: str) -> None:
        """The first ``taken`` entries are done (sent or dead-lettered) for ``day``."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.ltrim(self._pending(recipient), taken, -1)
            pipe.set(self._sent(recipient, day), b"1", ex=SENT_TTL_S)
            await pipe.execute()
