"""A whole fetch of input records, handed to the scoring agent in one piece.

Faust delivers records one at a time: per record it builds a message and an event, takes a
lock, checks flow control, races a task against a suspend signal, puts the event on a queue
and acknowledges it into a sorted list of offsets. Here that costs more than scoring the
record (bench/README-pipeline.md). The worker's consumer
(:mod:`streams.runtime.consumer`) hands the agent each fetch of the input topics as one
:class:`FetchBatch` instead, and acknowledges it as one offset per partition.

Records of one fetch are merged across partitions and topics in record-time order, so that a
customer's purchases and tickets of the same minutes are scored in the order they happened
(within each partition, offset order is kept).

>>> from types import SimpleNamespace as Rec
>>> a = Rec(topic="t", partition=0, offset=7, key=b"k", value=b"{}", timestamp=20,
...         timestamp_type=0, headers=())
>>> b = Rec(topic="u", partition=0, offset=3, key=b"k", value=b"{}", timestamp=10,
...         timestamp_type=0, headers=[("h", b"v")])
>>> batch = FetchBatch.of(5, {("t", 0): [a], ("u", 0): [b]})
>>> [(r.topic, r.offset, r.headers) for r in batch.records]
[('u', 3, (('h', b'v'),)), ('t', 7, ())]
>>> batch.ends, batch.generation
({('t', 0): 8, ('u', 0): 4}, 5)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streams.runtime.processor import Record, normalise_headers


class ConsumerRecord(Protocol):
    """What the batch reads of an aiokafka ``ConsumerRecord``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    timestamp_type: int
    headers: Any


@dataclass(frozen=True, slots=True)
class FetchBatch:
    """Records of one fetch, in record-time order, and where each partition ends."""

    generation: int
    records: Sequence[Record]
    # Per (topic, partition): the offset after the last record, the offset to commit once the
    # batch is scored.
    ends: Mapping[Any, int]

    @classmethod
    def of(cls, generation: int,
           fetched: Mapping[Any, Sequence[ConsumerRecord]]) -> FetchBatch:
        """The batch of ``fetched`` records (per partition, in offset order)."""
        parts = [[record_of(r) for r in records] for records in fetched.values() if records]
        merged: Iterable[Record] = parts[0] if len(parts) == 1 else heapq.merge(
            *parts, key=_record_time)
        return cls(generation, list(merged),
                   {tp: records[-1].offset + 1 for tp, records in fetched.items() if records})


def record_of(record: ConsumerRecord) -> Record:
    """The :class:`Record` of an aiokafka consumer record (timestamps in ms)."""
    timestamp = record.timestamp
    return Record(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        # CreateTime (type 0, the producer's clock) or LogAppendTime (1, the broker's).
        timestamp_ms=timestamp if timestamp is not None and timestamp > 0 else None,
        headers=normalise_headers(record.headers),
    )


def _record_time(record: Record) -> int:
    return record.timestamp_ms or 0
