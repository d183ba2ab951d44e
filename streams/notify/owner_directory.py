"""Who owns each customer: the compacted owners topic, followed into memory.

The directory reads the topic from its start at every start (it is compacted: one record per
customer) and says it is ready once it has caught up with the end offsets it found, so no
alert is routed before the owners loaded so far are known. It keeps following afterwards: an
owners load takes effect within a poll. A tombstone (a record with no value) removes the
customer's owner.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.kafka_clients import aiokafka_client_config
from streams.notify import metrics
from streams.notify.owners import Owner
from streams.settings import Settings

log = logging.getLogger(__name__)


class OwnerDirectory:
    """Customer id -> :class:`Owner`, as the owners topic says.

    >>> directory = OwnerDirectory()
    >>> directory.apply(b"c-1", Owner("c-1", "Ana", None, None).to_json())
    >>> directory.get("c-1").owner, directory.get("c-2")
    ('Ana', None)
    >>> directory.apply(b"c-1", None); directory.get("c-1") is None
    True
    """

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}
        self.ready = asyncio.Event()
        self.rejected = 0

    def get(self, customer_id: str) -> Owner | None:
        return self.owners.get(customer_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Take one record of the owners topic."""
        if value is None:
            if key is not None:
                self.owners.pop(key.decode(errors="replace"), None)
            return
        try:
            owner = Owner.from_json(value)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.rejected += 1
            log.warning("owners topic: a record is not an owner (key %r); it is ignored", key)
            return
        self.owners[owner.customer_id] = owner

    async def follow(self, settings: Settings, poll_timeout_ms: int = 1000) -> None:
        """Read the owners topic from its start, set :attr:`ready` once caught up, and
        go on following it until cancelled."""
        topic = settings.topics.owners
        # No group: every partition is this consumer's, read from the start each time.
        consumer = AIOKafkaConsumer(topic, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    **aiokafka_client_config(settings.kafka))
        await consumer.start()
        try:
            end = await self._end_offsets(consumer, topic)
            while True:
                batches = await consumer.getmany(timeout_ms=poll_timeout_ms, max_records=5000)
                for records in batches.values():
                    for record in records:
                        self.apply(record.key, record.value)
                metrics.OWNERS.set(len(self.owners))
                if not self.ready.is_set() and await _caught_up(consumer, end):
                    log.info("owners topic %s read: %d customers have an owner", topic,
                             len(self.owners))
                    self.ready.set()
        finally:
            await consumer.stop()

    async def _end_offsets(self, consumer: AIOKafkaConsumer,
                           topic: str) -> dict[TopicPartition, int]:
        """The end offsets of every partition, once the consumer has them assigned."""
        for _ in range(50):
            assigned = consumer.assignment()
            if assigned:
                return dict(await consumer.end_offsets(list(assigned)))
            # The first fetch brings the metadata, then the assignment (and maybe records).
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    self.apply(record.key, record.value)
        raise LookupError(f"the owners topic {topic} does not exist; create it with "
                          "`relscore owners load FILE` or let a worker create its topics")


async def _caught_up(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True
