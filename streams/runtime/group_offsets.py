"""The worker group's committed offsets, read with kafka-python's admin client.

The worker seeds its partition clocks from them at start-up; the tools and tests measure lag
with them.
"""

from __future__ import annotations

from collections.abc import Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from streams.kafka_clients import kafka_client_config
from streams.settings import Settings


def committed_offsets(settings: Settings, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """The worker group's committed offset of every partition of ``topics`` (0 if none)."""
    admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        committed = admin.list_group_offsets(settings.worker.app_id).get(settings.worker.app_id, {})
        offsets: dict[tuple[str, int], int] = {}
        for topic in topics:
            for partition in sorted(consumer.partitions_for_topic(topic) or set()):
                meta = committed.get(TopicPartition(topic, partition))
                offsets[(topic, partition)] = max(0, meta.offset) if meta is not None else 0
        return offsets
    finally:
        consumer.close()
        admin.close()


def group_lag(settings: Settings, topics: list[str]) -> int:
    """Messages in ``topics`` not yet committed by the worker group (``settings.worker.app_id``)."""
    admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        committed = admin.list_group_offsets(settings.worker.app_id).get(settings.worker.app_id, {})
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or set())
        ]
        ends = consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        consumer.close()
        admin.close()
