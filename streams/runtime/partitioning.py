"""Which partition a customer id lands on: Kafka's default (murmur2) partitioner.

kafka-python, aiokafka and the Java client agree on it, so the offline scorer can replay the
per-partition event-time clocks of the stream exactly.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a record keyed by ``key`` is sent to among ``partitions``."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
