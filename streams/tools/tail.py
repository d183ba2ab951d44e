"""Following the score, alert or dead-letter topic from the terminal."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from kafka import KafkaConsumer

from streams.kafka_clients import kafka_client_config
from streams.settings import Settings


def format_message(what: str, message: dict[str, Any]) -> str:
    """One readable line for a score, alert or DLQ message."""
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
    return (
        f"{message['received_at']}  {message['source_topic']}[{message['partition']}]@"
        f"{message['offset']}  {message['reason']}: {message['error']}"
    )


def tail(
    settings: Settings, what: str, *, customer: str | None, follow: bool,
    from_beginning: bool, limit: int | None,
) -> int:
    """Print messages of ``what`` (scores, alerts, dlq); returns how many were printed."""
    topic = {"scores": settings.topics.scores, "alerts": settings.topics.alerts,
             "dlq": settings.topics.dlq}[what]
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
