"""Reading output topics to their end with an independent client (kafka-python)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from streams.kafka_clients import kafka_client_config
from streams.runtime.group_offsets import group_lag
from streams.settings import Settings

Message = dict[str, Any]


def read_all(settings: Settings, topic: str, timeout: float = 10.0) -> list[Message]:
    """Every message currently in ``topic`` (decoded JSON), in partition/offset order."""
    return [orjson.loads(record.value) for record in read_records(settings, topic, timeout)]


def read_records(settings: Settings, topic: str, timeout: float = 10.0) -> list[Any]:
    """Every record currently in ``topic`` as kafka-python gives it (partition, key, value...),
    partition by partition; raises TimeoutError when the end is not reached in ``timeout``."""
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        by_partition: dict[int, list[Any]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {timeout} s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                by_partition[tp.partition].extend(records)
        return [record for partition in sorted(by_partition) for record in by_partition[partition]]
    finally:
        consumer.close()


def wait_for(
    settings: Settings, topic: str, condition: Callable[[list[Message]], bool],
    timeout: float = 60.0, poll: float = 0.5,
) -> list[Message]:
    """Read ``topic`` until ``condition(messages)`` holds; TimeoutError with a count if not."""
    deadline = time.monotonic() + timeout
    messages: list[Message] = []
    while time.monotonic() < deadline:
        messages = read_all(settings, topic)
        if condition(messages):
            return messages
        time.sleep(poll)
    raise TimeoutError(f"{topic}: condition not met after {timeout} s ({len(messages)} messages)")


def latest_by_customer(messages: list[Message]) -> dict[str, Message]:
    """The last message per customer_id (what a compacted topic converges to)."""
    return {message["customer_id"]: message for message in messages}


def wait_caught_up(settings: Settings, timeout: float = 120.0, poll: float = 0.5,
                   *, include_rekey: bool = True) -> None:
    """Wait until the worker group has committed every input and re-key record.

    Faust flushes its produced records before it commits, so once this returns every output
    of those records is in its topic.
    """
    # In wall-clock mode the re-key topic also carries the worker's own ticks, so it is never
    # quiet for long: callers then wait on the input topics alone.
    topics = [*settings.topics.inputs, *([settings.topics.rekey] if include_rekey else [])]
    deadline = time.monotonic() + timeout
    lag = -1
    while time.monotonic() < deadline:
        lag = group_lag(settings, topics)
        if lag == 0:
            return
        time.sleep(poll)
    raise TimeoutError(
        f"worker group {settings.worker.app_id} still {lag} records behind after {timeout} s"
    )
