"""Which partition a customer id lands on: Kafka's default (murmur2) partitioner.

kafka-python, aiokafka and the Java client agree on it, so the offline scorer can replay the
per-partition event-time clocks of the stream exactly. librdkafka's clients (kcat,
confluent-kafka) do not by default: their ``consistent_random`` partitioner hashes with
CRC32, so the worker re-keys such records (streams.runtime.processor).
"""

from __future__ import annotations

import functools

from aiokafka.partitioner import murmur2

# Keys whose partition is remembered: murmur2 in pure Python costs about 5 us a key, and the
# worker asks for each record, each state row and each score.
CACHED_KEYS = 65_536


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a record keyed by ``key`` is sent to among ``partitions``.

    >>> partition_for(b"c-1", 4), partition_for(b"c-2", 4)
    (3, 2)
    """
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@functools.lru_cache(maxsize=CACHED_KEYS)
def cached_partition_for(key: bytes, partitions: int) -> int:
    """:func:`partition_for`, remembered for the most recently used keys.

    >>> cached_partition_for(b"c-1", 4) == partition_for(b"c-1", 4)
    True
    """
    return partition_for(key, partitions)
