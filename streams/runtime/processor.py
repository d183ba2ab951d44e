"""One input record in, table update and output records out: the scoring step without Faust.

The Faust agent in :mod:`streams.runtime.app` only moves bytes between Kafka, the table and this
class,
so the whole per-record decision (reject, re-key, duplicate, score, alert) is testable offline
and is the same code the offline scorer's counterpart uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from scorers.config import ScoringConfig
from scorers.events import (
    EVENT_KINDS,
    INTERACTION,
    PURCHASE,
    TICKET,
    Event,
    InvalidEvent,
    Limits,
    decode_event,
)
from scorers.model import band_of
from scorers.scorer import Outputs, apply_event, rescore
from scorers.state import CustomerState
from scorers.timefmt import format_ms
from streams.runtime import metrics
from streams.runtime.dlq import dlq_message
from streams.runtime.partitioning import cached_partition_for
from streams.settings import Settings

log = logging.getLogger(__name__)

KIND_HEADER = "relscore-kind"
SOURCE_HEADER = "relscore-source"
TICK_KIND = b"tick"


@dataclass(frozen=True, slots=True)
class Record:
    """An input record's coordinates and bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Emit:
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None
    partition: int | None = None


@dataclass(slots=True)
class Decoded:
    """A valid event that belongs on this partition: score it under ``table_key``."""

    table_key: bytes
    event: Event


@dataclass(slots=True)
class Step:
    """The result of scoring one event: the new state bytes (None: unchanged) and outputs."""

    state: bytes | None
    emits: list[Emit] = field(default_factory=list)
    band_before: str | None = None
    band_after: str | None = None
    next_due: int | None = None


def normalise_headers(raw: object) -> tuple[tuple[str, bytes], ...]:
    """Faust/aiokafka headers (a list of pairs or a mapping) as a tuple of pairs."""
    if not raw:
        return ()
    items: Iterable[tuple[str, bytes]]
    items = raw.items() if isinstance(raw, dict) else raw  # type: ignore[assignment]
    return tuple((str(k), bytes(v) if v is not None else b"") for k, v in items)


class Processor:
    """Decodes, validates, routes and scores input records for one worker."""

    def __init__(self, settings: Settings, cfg: ScoringConfig) -> None:
        self.settings = settings
        self.cfg = cfg
        self.limits = Limits(settings.worker.max_payload_bytes, settings.worker.max_future_skew_ms)
        self.kinds = {
            settings.topics.purchases: PURCHASE,
            settings.topics.tickets: TICKET,
            settings.topics.interactions: INTERACTION,
        }
        # Newest record time per input topic (ms). Until a topic's first record it is the
        # worker's start, so a feed that never flows also shows as silent.
        started_ms = _now_ms()
        self.feed_ms = dict.fromkeys(self.kinds, started_ms)
        for topic in self.kinds:
            metrics.child(metrics.INPUT_LAST_RECORD, topic).set(started_ms / 1000)
        # Input topics on which a record arrived off its customer's partition (warned once).
        self.misplaced_topics: set[str] = set()

    def decode(self, record: Record, now_ms: int | None = None) -> Decoded | Emit:
        """Validate ``record``: a :class:`Decoded` event, or the DLQ/re-key record to send."""
        kind, source = self._kind_and_source(record)
        reference = record.timestamp_ms if record.timestamp_ms else now_ms or _now_ms()
        # Per record only a lookup: the gauge moves at most once a second of record time.
        if reference >= self.feed_ms.get(record.topic, reference + 1000) + 1000:
            self.feed_ms[record.topic] = reference
            metrics.child(metrics.INPUT_LAST_RECORD, record.topic).set(reference / 1000)
        try:
            if kind is None:
                raise InvalidEvent("unknown_topic", f"no event kind for topic {record.topic!r}")
            if record.value is None:
                raise InvalidEvent("not_json", "message has no value (tombstone); send an event")
            event = decode_event(kind, record.value, reference_ms=reference, limits=self.limits)
        except InvalidEvent as exc:
            metrics.child(metrics.EVENTS, source, "rejected").inc()
            metrics.child(metrics.DLQ, exc.reason).inc()
            log.warning(
                "rejected %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc.reason
            )
            return self._dead_letter(record, source, exc, now_ms)
        table_key = event.customer_id.encode("utf-8")
        if record.key != table_key or (
                record.topic != self.settings.topics.rekey and record.partition
                != cached_partition_for(table_key, self.settings.topics.partitions)):
            # Keyed by something else (no key, another spelling), or put on another partition
            # than Kafka's default partitioner would (librdkafka's consistent_random): one hop
            # through the re-key topic puts the event on the partition that owns this
            # customer's state and changelog rows, so that a rebalance moves them together.
            if record.key == table_key:
                self._warn_misplaced(record)
            metrics.child(metrics.EVENTS, source, "rekeyed").inc()
            return Emit(
                topic=self.settings.topics.rekey,
                key=table_key,
                value=record.value,
                headers=(
                    (KIND_HEADER, kind.encode()),
                    (SOURCE_HEADER, f"{source}:{record.partition}:{record.offset}".encode()),
                ),
                timestamp_ms=record.timestamp_ms,
            )
        return Decoded(table_key, event)

    def score(self, decoded: Decoded, state_bytes: bytes | None, record: Record) -> Step:
        """Apply ``decoded`` to the customer's state; returns the new state and outputs."""
        source = self._kind_and_source(record)[1]
        state = None if state_bytes is None else CustomerState.from_bytes(state_bytes)
        band_before = _band(state)
        # The state was decoded for this call alone: the model may update it in place.
        new_state, outputs = apply_event(state, decoded.event, self.cfg, owned=True)
        if outputs.duplicate:
            metrics.child(metrics.EVENTS, source, "duplicate").inc()
            return Step(state=None)
        metrics.child(metrics.EVENTS, source, "scored").inc()
        if record.timestamp_ms:
            lag_s = (record.timestamp_ms - decoded.event.ts) / 1000
            metrics.EVENT_TIME_LAG.observe(max(0.0, lag_s))
        return self._step(decoded.table_key, band_before, new_state, outputs)

    def rescore(self, key: bytes, state_bytes: bytes | None, due_ms: int) -> Step | None:
        """Re-score a customer whose due time ``due_ms`` the partition clock has passed.

        None when the entry is stale (the customer is gone or has another due time now).
        """
        if state_bytes is None:
            return None
        state = CustomerState.from_bytes(state_bytes)
        if state.next_due != due_ms:
            return None
        band_before = _band(state)
        new_state, outputs = rescore(state, due_ms, self.cfg, owned=True)
        return self._step(key, band_before, new_state, outputs)

    def _step(self, key: bytes, band_before: str | None, new_state: CustomerState,
              outputs: Outputs) -> Step:
        step = Step(
            state=new_state.to_bytes(),
            band_before=band_before,
            band_after=_band(new_state),
            next_due=new_state.next_due,
        )
        for message in outputs.scores:
            metrics.child(metrics.SCORE_UPDATES, message["reason"]).inc()
            metrics.SCORES.observe(message["score"])
            step.emits.append(Emit(self.settings.topics.scores, key, orjson.dumps(message)))
        for alert in outputs.alerts:
            metrics.child(metrics.ALERTS, alert["type"], alert["severity"]).inc()
            alert["emitted_at"] = format_ms(_now_ms())
            step.emits.append(Emit(self.settings.topics.alerts, key, orjson.dumps(alert)))
        return step

    def tick(self, partition: int, now_ms: int) -> Emit:
        """A wall-clock tick for ``partition`` (live mode), sent through the re-key topic so
        that it is processed in order with the partition's events and replays with them."""
        return Emit(
            topic=self.settings.topics.rekey,
            key=None,
            value=orjson.dumps({"tick_ms": now_ms}),
            headers=((KIND_HEADER, TICK_KIND),),
            partition=partition,
        )

    def decode_tick(self, record: Record) -> int | None:
        """The tick time of a tick record, or None when ``record`` is not a tick."""
        if record.topic != self.settings.topics.rekey or record.header(KIND_HEADER) != TICK_KIND:
            return None
        try:
            return int(orjson.loads(record.value or b"{}")["tick_ms"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed tick at %s[%d]@%d", record.topic, record.partition,
                        record.offset)
            return None

    def _warn_misplaced(self, record: Record) -> None:
        if record.topic in self.misplaced_topics:
            return
        self.misplaced_topics.add(record.topic)
        log.warning(
            "%s[%d]@%d is keyed by its customer id but not on the partition Kafka's default "
            "(murmur2) partitioner gives that key; records like it are re-keyed through %s, "
            "one extra hop each. Fix: produce with the murmur2 partitioner (librdkafka, kcat, "
            "confluent-kafka: partitioner=murmur2_random). Warned once per topic.",
            record.topic, record.partition, record.offset, self.settings.topics.rekey)

    def _kind_and_source(self, record: Record) -> tuple[str | None, str]:
        if record.topic == self.settings.topics.rekey:
            kind_bytes = record.header(KIND_HEADER)
            kind = kind_bytes.decode("ascii", "replace") if kind_bytes else None
            kind = kind if kind in EVENT_KINDS else None
            source = next((t for t, k in self.kinds.items() if k == kind), record.topic)
            return kind, source
        return self.kinds.get(record.topic), record.topic

    def _dead_letter(
        self, record: Record, source: str, exc: InvalidEvent, now_ms: int | None
    ) -> Emit:
        message = dlq_message(
            source_topic=source,
            partition=record.partition,
            offset=record.offset,
            error=str(exc),
            reason=exc.reason,
            raw=record.value,
            received_at_ms=now_ms or _now_ms(),
        )
        return Emit(self.settings.topics.dlq, record.key, orjson.dumps(message))


def _band(state: CustomerState | None) -> str | None:
    return None if state is None or state.score is None else band_of(state.score)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
