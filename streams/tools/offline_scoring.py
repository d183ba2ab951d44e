"""Offline scoring of a JSONL event file with the same model the stream uses.

Each line is one JSON object with a ``topic`` field (``purchases``, ``support-tickets``,
``interactions``) beside the event's own fields. Lines are scored in file order, as one
partition would score them.

With ``as_of_ms`` the file is scored as a live worker whose clock has reached that event time
would have scored it: every time-driven re-score and alert due up to then fires, every customer
is valued at that time, and events later than it are rejected (``after_as_of``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scorers.change import change_since
from scorers.config import ScoringConfig
from scorers.events import (
    INTERACTION,
    NOT_OBJECT,
    PURCHASE,
    TICKET,
    UNKNOWN_TOPIC,
    InvalidEvent,
    Limits,
    parse_payload,
    validate_event,
)
from scorers.model import evaluate
from scorers.schedule import DueSchedule
from scorers.scorer import Outputs, apply_event, rescore, score_message
from scorers.state import CustomerState
from scorers.timefmt import format_ms, parse_rfc3339_ms
from streams.runtime.partitioning import partition_for

FILE_TOPICS = {"purchases": PURCHASE, "support-tickets": TICKET, "interactions": INTERACTION}
# Offline only: an event later than the --as-of time the file is valued at.
AFTER_AS_OF = "after_as_of"
# The reason of a score line that values a customer at the --as-of time.
AS_OF = "as_of"


@dataclass
class OfflineResult:
    """What scoring a file produced."""

    lines: int = 0
    events: int = 0
    duplicates: int = 0
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, CustomerState] = field(default_factory=dict)


def score_lines(
    lines: Iterable[bytes], cfg: ScoringConfig, *, reference_ms: int | None,
    limits: Limits | None = None, partitions: int = 4, allowed_lateness_ms: int = 60_000,
    as_of_ms: int | None = None,
) -> OfflineResult:
    """Score JSONL lines (bytes, one event each); rejects are collected, never raised.

    Customers are spread over ``partitions`` event-time clocks exactly as the stream spreads
    them over Kafka partitions, so decay re-scores fire at the same event times. With
    ``as_of_ms``, see the module's docstring: ``scores`` then holds every customer valued at
    that time (``as_of`` = it, ``reason`` = ``as_of``).

    >>> lines = [b'{"topic": "purchases", "event_id": "e1", "customer_id": "c-1", "ts": '
    ...          b'"2026-06-01T00:00:00Z", "order_id": "o1", "amount": 50, "product_id": "p"}',
    ...          b'{"topic": "purchases", "event_id": "e2", "customer_id": "c-1", "ts": '
    ...          b'"2026-09-01T00:00:00Z", "order_id": "o2", "amount": 50, "product_id": "p"}']
    >>> from scorers.config import DEFAULT_CONFIG
    >>> result = score_lines(lines, DEFAULT_CONFIG, reference_ms=None,
    ...                      as_of_ms=parse_rfc3339_ms("2026-08-01T00:00:00Z"))
    >>> result.scores["c-1"]["as_of"], result.scores["c-1"]["reason"]
    ('2026-08-01T00:00:00Z', 'as_of')
    >>> [reject["reason"] for reject in result.rejects]
    ['after_as_of']
    """
    limits = limits or Limits()
    result = OfflineResult()
    schedule = DueSchedule(allowed_lateness_ms)
    # murmur2 in pure Python costs more than a dict lookup; a customer keeps its partition.
    partition_of: dict[str, int] = {}

    def take(customer: str, outputs: Outputs) -> None:
        if outputs.scores:
            result.scores[customer] = outputs.scores[-1]
        result.alerts.extend(outputs.alerts)

    def fire_due(partition: int) -> None:
        while due_now := list(schedule.pop_due(partition)):
            for due, due_key in due_now:
                customer = due_key.decode("utf-8")
                state, outputs = rescore(result.states[customer], due, cfg, owned=True)
                result.states[customer] = state
                take(customer, outputs)
                schedule.push(partition, due_key, state.next_due)

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        result.lines += 1
        try:
            obj = parse_payload(line, limits)
            topic = obj.pop("topic", None)
            kind = FILE_TOPICS.get(topic) if isinstance(topic, str) else None
            if kind is None:
                reason = UNKNOWN_TOPIC if topic is not None else NOT_OBJECT
                raise InvalidEvent(
                    reason,
                    f"line needs a 'topic' field naming one of {sorted(FILE_TOPICS)}, "
                    f"got {topic!r:.60}",
                )
            event = validate_event(kind, obj, reference_ms=reference_ms, limits=limits)
            if as_of_ms is not None and event.ts > as_of_ms:
                raise InvalidEvent(
                    AFTER_AS_OF,
                    f"ts {format_ms(event.ts)} is after the as-of time {format_ms(as_of_ms)}",
                )
        except InvalidEvent as exc:
            result.rejects.append(
                {"line": number, "error": str(exc), "reason": exc.reason,
                 "raw": line.decode("utf-8", "replace")}
            )
            continue
        key = event.customer_id.encode("utf-8")
        partition = partition_of.get(event.customer_id, -1)
        if partition < 0:
            partition = partition_of[event.customer_id] = partition_for(key, partitions)
        schedule.observe(partition, event.ts)
        fire_due(partition)
        state, outputs = apply_event(result.states.get(event.customer_id), event, cfg,
                                     owned=True)
        if outputs.duplicate:
            result.duplicates += 1
            continue
        result.events += 1
        result.states[event.customer_id] = state
        take(event.customer_id, outputs)
        schedule.push(partition, key, state.next_due)
    if as_of_ms is not None:
        value_at(result, schedule, as_of_ms, partitions, cfg, take, fire_due)
    # Event-time order; the sort is stable, so ties keep processing order.
    result.alerts.sort(key=lambda alert: parse_rfc3339_ms(alert["as_of"]))
    return result


def value_at(result: OfflineResult, schedule: DueSchedule, as_of_ms: int, partitions: int,
             cfg: ScoringConfig, take: Callable[[str, Outputs], None],
             fire_due: Callable[[int], None]) -> None:
    """Move every partition's clock to ``as_of_ms``, fire what falls due, then value every
    customer at that time (a crossing exactly then alerts, as it would live)."""
    for partition in range(partitions):
        schedule.observe(partition, as_of_ms + schedule.allowed_lateness_ms)
        fire_due(partition)
    for customer, state in result.states.items():
        state, outputs = rescore(state, as_of_ms, cfg, owned=True)
        result.states[customer] = state
        take(customer, outputs)
        evaluation = evaluate(state, as_of_ms, cfg)
        result.scores[customer] = score_message(
            state, evaluation, round(evaluation.score, 1), state.score, AS_OF, cfg,
            change_since(state.score, state.lost, state.components, evaluation))


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines as bytes; raises OSError with the path when it cannot be read."""
    with path.open("rb") as handle:
        yield from handle


def write_outputs(result: OfflineResult, out_dir: Path, emitted_at: str) -> None:
    """Write ``scores.jsonl``, ``alerts.jsonl`` and ``dlq.jsonl`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "scores.jsonl").open("wb") as handle:
        for customer in sorted(result.scores):
            handle.write(orjson.dumps(result.scores[customer]) + b"\n")
    with (out_dir / "alerts.jsonl").open("wb") as handle:
        for alert in result.alerts:
            handle.write(orjson.dumps({**alert, "emitted_at": emitted_at}) + b"\n")
    with (out_dir / "dlq.jsonl").open("wb") as handle:
        for reject in result.rejects:
            handle.write(orjson.dumps(reject) + b"\n")
