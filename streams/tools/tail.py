"""Following the score, alert or dead-letter topic from the terminal."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from kafka import KafkaConsumer

from streams.kafka_clients import kafka_client_config
from streams.settings import Settings


def format_message(what: str, message: dict[str, Any]) -> str:
    """One readable line for a score, alert, DLQ or notify DLQ message.

    >>> format_message("notify-dlq", {"reason": "undeliverable", "failed_at": "2026-12-01Z",
    ...     "destination": "cs-team", "alert_id": "c-1:below_threshold:2026-11-30Z",
    ...     "attempts": 6, "error": "HTTP 503 after 6 attempts"})
    '2026-12-01Z  cs-team  c-1:below_threshold:2026-11-30Z  HTTP 503 after 6 attempts'
    """
    if what == "scores":
        return (
            f"{message['as_of']}  {message['customer_id']:<16} {message['score']:5.1f} "
            f"{message['band']:<9} (was {message['previous_score']}) "
            f"conf {message['confidence']:.2f} [{message['reason']}]"
        )
    if what == "alerts":
        drivers = "; ".join(d["detail"] for d in message.get("drivers", []))
        return (
            f"{message['as_of']}  {message['severity'].upper():<8} {message['type']:<15} "
            f"{message['customer_id']:<16} {message['score']:5.1f}  {drivers}"
        )
    if what == "notify-dlq":
        if message.get("reason") == "undeliverable":
            return (f"{message['failed_at']}  {message['destination']}  {message['alert_id']}  "
                    f"{message['error']}")
        return (f"{message['failed_at']}  not an alert [{message['partition']}]@"
                f"{message['offset']}: {message['error']}")
    return (
        f"{message['received_at']}  {message['source_topic']}[{message['partition']}]@"
        f"{message['offset']}  {message['reason']}: {message['error']}"
    )


def tail(
    settings: Settings, what: str, *, customer: str | None, follow: bool,
    from_beginning: bool, limit: int | None,
) -> int:
    """Print messages of ``what`` (scores, alerts, dlq, notify-dlq); returns how many were
    printed."""
    topic = {"scores": settings.topics.scores, "alerts": settings.topics.alerts,
             "dlq": settings.topics.dlq, "notify-dlq": settings.topics.notify_dlq}[what]
    consumer = KafkaConsumer(
        topic,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=float("inf") if follow else 3000,
        **kafka_client_config(settings.kafka),
    )
    printed = 0
    try:
        for record in consumer:
            message = orjson.loads(record.value)
            if customer and message.get("customer_id") != customer:
                continue
            sys.stdout.write(format_message(what, message) + "\n")
            sys.stdout.flush()
            printed += 1
            if limit is not None and printed >= limit:
                break
    finally:
        consumer.close()
    return printed
