"""Offline scoring of a JSONL event file with the same model the stream uses.

Each line is one JSON object with a ``topic`` field (``purchases``, ``support-tickets``,
``interactions``) beside the event's own fields. Lines are scored in file order, as one
partition would score them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

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
from scorers.schedule import DueSchedule
from scorers.scorer import Outputs, apply_event, rescore
from scorers.state import CustomerState
from scorers.timefmt import parse_rfc3339_ms
from streams.runtime.partitioning import partition_for

FILE_TOPICS = {"purchases": PURCHASE, "support-tickets": TICKET, "interactions": INTERACTION}


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
) -> OfflineResult:
    """Score JSONL lines (bytes, one event each); rejects are collected, never raised.

    Customers are spread over ``partitions`` event-time clocks exactly as the stream spreads
    them over Kafka partitions, so decay re-scores fire at the same event times.
    """
    limits = limits or Limits()
    result = OfflineResult()
    schedule = DueSchedule(allowed_lateness_ms)

    def take(customer: str, outputs: Outputs) -> None:
        if outputs.scores:
            result.scores[customer] = outputs.scores[-1]
        result.alerts.extend(outputs.alerts)

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
        except InvalidEvent as exc:
            result.rejects.append(
                {"line": number, "error": str(exc), "reason": exc.reason,
                 "raw": line.decode("utf-8", "replace")}
            )
            continue
        key = event.customer_id.encode("utf-8")
        partition = partition_for(key, partitions)
        schedule.observe(partition, event.ts)
        while due_now := list(schedule.pop_due(partition)):
            for due, due_key in due_now:
                customer = due_key.decode("utf-8")
                state, outputs = rescore(result.states[customer], due, cfg, owned=True)
                result.states[customer] = state
                take(customer, outputs)
                schedule.push(partition, due_key, state.next_due)
        state, outputs = apply_event(result.states.get(event.customer_id), event, cfg,
                                     owned=True)
        if outputs.duplicate:
            result.duplicates += 1
            continue
        result.events += 1
        result.states[event.customer_id] = state
        take(event.customer_id, outputs)
        schedule.push(partition, key, state.next_due)
    # Event-time order; the sort is stable, so ties keep processing order.
    result.alerts.sort(key=lambda alert: parse_rfc3339_ms(alert["as_of"]))
    return result


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
