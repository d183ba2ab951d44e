"""A whole fetch of input records, handed to the scoring agent in one piece.

Faust delivers records one at a time: per record it builds a message and an event, takes a
lock, checks flow control, races a task against a suspend signal, puts the event on a queue
and acknowledges it into a sorted list of offsets. Here that costs more than scoring the
record (bench/README-pipeline.md). The worker's consumer
(:mod:`streams.runtime.consumer`) hands the agent each fetch of the input topics as one
:class:`FetchBatch` instead, and acknowledges it as one offset per partition.

Records keep the order Faust's per-message path gave them: Faust's scheduler
(``DefaultSchedulingStrategy``) takes one record of each topic in turn, and within a topic one
of each partition (offset order within a partition). A customer's sparse purchases therefore
never fall behind its frequent interactions. Record time cannot order them: a burst produced
in the same milliseconds ties. The consumer takes everything fetched for all partitions at
once (a cap on records per fetch would hand over one partition's buffer after another) and
splits the ordered records into batches of at most ``RELSCORE_BATCH_SIZE``.

>>> from types import SimpleNamespace as Rec
>>> a = Rec(topic="t", partition=0, offset=7, key=b"k", value=b"{}", timestamp=20,
...         timestamp_type=0, headers=())
>>> b = Rec(topic="u", partition=0, offset=3, key=b"k", value=b"{}", timestamp=10,
...         timestamp_type=0, headers=[("h", b"v")])
>>> batch = FetchBatch.of(5, [(("t", 0), a), (("u", 0), b)])
>>> [(r.topic, r.offset, r.headers) for r in batch.records]
[('t', 7, ()), ('u', 3, (('h', b'v'),))]
>>> batch.ends, batch.generation
({('t', 0): 8, ('u', 0): 4}, 5)
>>> [(len(part.records), part.ends) for part in batch.split(1)]
[(1, {('t', 0): 8}), (1, {('u', 0): 4})]
"""

from __future__ import annotations

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
    """Records of one fetch, in the scheduler's order, and where each partition ends."""

    generation: int
    records: Sequence[Record]
    # Per (topic, partition): the offset after the last record, the offset to commit once the
    # batch is scored.
    ends: Mapping[Any, int]

    @classmethod
    def of(cls, generation: int, scheduled: Iterable[tuple[Any, ConsumerRecord]]) -> FetchBatch:
        """The batch of ``scheduled`` ``(partition, record)`` pairs, in the order given."""
        records: list[Record] = []
        ends: dict[Any, int] = {}
        for tp, record in scheduled:
            records.append(record_of(record))
            ends[tp] = record.offset + 1
        return cls(generation, records, ends)

    def split(self, size: int) -> list[FetchBatch]:
        """Consecutive batches of at most ``size`` records, each ending where its own
        records end (acknowledged in order, they commit what this batch commits)."""
        if len(self.records) <= size:
            return [self]
        # The consumer's own partition keys (Faust's TP), looked up by a record's coordinates.
        keys = {(tp[0], tp[1]): tp for tp in self.ends}
        parts = []
        for start in range(0, len(self.records), size):
            records = self.records[start:start + size]
            ends = {keys[(r.topic, r.partition)]: r.offset + 1 for r in records}
            parts.append(FetchBatch(self.generation, records, ends))
        return parts


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
