"""Following a compacted topic into memory: read it from its start, say when caught up, and
keep following.

Every reader has no consumer group, so each is assigned every partition and sees every
record: what relscore notify does with the owners, and every worker with the alert actions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.kafka_clients import aiokafka_client_config
from streams.settings import Settings

log = logging.getLogger(__name__)

Apply = Callable[[bytes | None, bytes | None], None]


async def follow_topic(settings: Settings, topic: str, apply: Apply, ready: asyncio.Event,
                       poll_timeout_ms: int = 1000) -> None:
    """Give every record of ``topic`` to ``apply(key, value)``, from the start; set ``ready``
    once the end offsets found at start are reached. Runs until cancelled; raises
    LookupError when the topic does not exist."""
    consumer = AIOKafkaConsumer(topic, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest",
                                **aiokafka_client_config(settings.kafka))
    await consumer.start()
    try:
        end = await _end_offsets(consumer, topic, apply)
        while True:
            if not ready.is_set() and await _caught_up(consumer, end):
                ready.set()
            batches = await consumer.getmany(timeout_ms=poll_timeout_ms, max_records=5000)
            for records in batches.values():
                for record in records:
                    apply(record.key, record.value)
    finally:
        await consumer.stop()


async def _end_offsets(consumer: AIOKafkaConsumer, topic: str,
                       apply: Apply) -> dict[TopicPartition, int]:
    """The end offsets of every partition, once the consumer has them assigned."""
    for _ in range(50):
        assigned = consumer.assignment()
        if assigned:
            return dict(await consumer.end_offsets(list(assigned)))
        # The first fetch brings the metadata, then the assignment (and maybe records).
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for record in records:
                apply(record.key, record.value)
    raise LookupError(f"the topic {topic} does not exist; let a worker create its topics "
                      "(or create it compacted, with RELSCORE_PARTITIONS partitions)")


async def _caught_up(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True
