"""The delivery log on the real Redis of the test stack."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from streams.notify.delivery_log import DEAD_LETTERED, DELIVERED, DeliveryLog
from streams.runtime.projector import redis_client
from streams.settings import Settings

pytestmark = pytest.mark.integration

ALERT = "acme-1:below_threshold:2026-11-20T10:00:00Z"


def test_a_pair_is_done_once_recorded_per_destination_and_expires(stack: Settings) -> None:
    prefix = f"relscore-test:{uuid.uuid4().hex[:8]}:"

    async def run() -> tuple[list[str | None], int, list[str | None]]:
        client = redis_client(stack)
        try:
            log = DeliveryLog(client, prefix, ttl_s=3600)
            before = [await log.outcome(ALERT, "cs-team"), await log.outcome(ALERT, "slack")]
            await log.record(ALERT, "cs-team", DELIVERED)
            await log.record(ALERT, "slack", DEAD_LETTERED)
            ttl = int(await client.ttl(log.key(ALERT, "cs-team")))
            # Another process (a restarted notify) reads the same log.
            again = DeliveryLog(redis_client(stack), prefix)
            after = [await again.outcome(ALERT, "cs-team"), await again.outcome(ALERT, "slack"),
                     await again.outcome(ALERT, "email"),
                     await DeliveryLog(client, prefix + "other:").outcome(ALERT, "cs-team")]
            await again.client.aclose()
            await client.delete(log.key(ALERT, "cs-team"), log.key(ALERT, "slack"))
            return before, ttl, after
        finally:
            await client.aclose()

    before, ttl, after = asyncio.run(run())
    assert before == [None, None]
    assert 3590 <= ttl <= 3600
    assert after == [DELIVERED, DEAD_LETTERED, None, None]


def test_only_the_known_outcomes_are_recorded() -> None:
    with pytest.raises(ValueError, match="must be one of delivered, dead_lettered, dropped"):
        asyncio.run(DeliveryLog(None, "p:").record(ALERT, "cs-team", "sent"))
