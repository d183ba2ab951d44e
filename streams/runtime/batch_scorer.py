"""Scoring a batch of input records: the worker's whole per-record logic, without Faust.

The agent hands over each batch with a ``get`` for the state table and gets back the records
to produce and the table rows to write. It writes the rows only after Kafka has acknowledged
every produced record, so a crash can never leave a state that remembers an event whose score
or alert was not published (redelivery then recomputes the same outputs, same alert ids).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from scorers.schedule import DueSchedule
from streams.runtime import metrics
from streams.runtime.band_gauge import BandCounts
from streams.runtime.processor import Decoded, Emit, Processor, Record, Step


@dataclass(slots=True)
class BatchResult:
    """Records to produce (in order) and table rows to write after they are acknowledged."""

    emits: list[Emit] = field(default_factory=list)
    updates: dict[bytes, bytes] = field(default_factory=dict)


TopicPartition = tuple[str, int]


class InputProgress:
    """How far each input topic-partition has been read, in offsets and in event time.

    A partition's event-time clock may only pass a time once every input topic of that
    partition with records still to read has reached it: otherwise a customer whose tickets
    are read before its purchases would look silent and alert for nothing. Topics with
    nothing left to read do not hold the clock back.
    """

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)
        self.event_time: dict[TopicPartition, int] = {}
        self.next_offset: dict[TopicPartition, int] = {}

    def reset(self, positions: Mapping[TopicPartition, int]) -> None:
        """Start over (after a rebalance) from the given read positions."""
        self.event_time.clear()
        self.next_offset = dict(positions)

    def read(self, topic: str, partition: int, offset: int, event_ts: int | None) -> None:
        tp = (topic, partition)
        self.next_offset[tp] = offset + 1
        if event_ts is not None and event_ts > self.event_time.get(tp, event_ts - 1):
            self.event_time[tp] = event_ts

    def clock_candidate(self, partition: int, now_ts: int,
                        highwaters: Mapping[TopicPartition, int | None]) -> int:
        """The event time ``partition``'s clock may move to (before lateness)."""
        candidate = now_ts
        for topic in self.topics:
            tp = (topic, partition)
            end = highwaters.get(tp)
            position = self.next_offset.get(tp)
            # An end offset the consumer has not reported yet (an empty topic may never get
            # one) does not hold the clock; a known one with records left to read does.
            behind = end is not None and end > 0 and (position is None or position < end)
            if behind:
                seen = self.event_time.get(tp)
                if seen is None:
                    return -(2**62)  # not read yet: hold the clock
                candidate = min(candidate, seen)
        return candidate


class BatchScorer:
    """Decodes, schedules and scores records, one batch at a time."""

    def __init__(self, processor: Processor, schedule: DueSchedule, bands: BandCounts,
                 progress: InputProgress | None = None) -> None:
        self.processor = processor
        self.schedule = schedule
        self.bands = bands
        self.progress = progress
        self.lateness_ms = schedule.allowed_lateness_ms

    def process(self, records: Sequence[Record], get: Callable[[bytes], bytes | None],
                highwaters: Mapping[TopicPartition, int | None] | None = None) -> BatchResult:
        """Score ``records`` in order; ``get`` reads the state table as of the batch start.

        ``highwaters`` (end offsets of the input topic-partitions, None when unknown) lets
        the clocks wait for topics with records still to read; without it (one ordered
        source, as offline) a partition's clock follows its highest event time.
        """
        result = BatchResult()
        progress = self.progress if highwaters is not None else None
        updates = result.updates

        def load(key: bytes) -> bytes | None:
            return updates[key] if key in updates else get(key)

        def take(key: bytes, step: Step | None) -> None:
            if step is None or step.state is None:
                return
            updates[key] = step.state
            self.bands.move(step.band_before, step.band_after)
            result.emits.extend(step.emits)

        def advance(partition: int, event_ts: int) -> None:
            if progress is not None and highwaters is not None:
                event_ts = progress.clock_candidate(partition, event_ts, highwaters)
            self.schedule.observe(partition, event_ts)
            # A re-score may set a due time the clock already passed: loop until none is.
            while due_now := list(self.schedule.pop_due(partition)):
                for due, key in due_now:
                    step = self.processor.rescore(key, load(key), due)
                    take(key, step)
                    if step is not None:
                        self.schedule.push(partition, key, step.next_due)

        for record in records:
            tick_ms = self.processor.decode_tick(record)
            if tick_ms is not None:
                if progress is not None:
                    progress.read(record.topic, record.partition, record.offset, None)
                advance(record.partition, tick_ms)
                continue
            decoded = self.processor.decode(record)
            if progress is not None:
                event_ts = decoded.event.ts if isinstance(decoded, Decoded) else None
                progress.read(record.topic, record.partition, record.offset, event_ts)
            if not isinstance(decoded, Decoded):
                result.emits.append(decoded)
                continue
            clock = self.schedule.clocks.get(record.partition)
            if clock is not None and decoded.event.ts < clock:
                metrics.LATE_EVENTS.inc()
            advance(record.partition, decoded.event.ts)
            step = self.processor.score(decoded, load(decoded.table_key), record)
            take(decoded.table_key, step)
            if step.state is not None:
                self.schedule.push(record.partition, decoded.table_key, step.next_due)
        metrics.SCHEDULED.set(len(self.schedule))
        return result
