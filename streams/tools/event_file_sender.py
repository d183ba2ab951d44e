"""Sending event files to the input topics with kafka-python (keyed by customer_id)."""

from __future__ import annotations

from pathlib import Path

import orjson
from kafka import KafkaProducer

from scorers.events import InvalidEvent, Limits, parse_payload, validate_event
from streams.kafka_clients import kafka_client_config
from streams.settings import Settings
from streams.tools.offline_scoring import FILE_TOPICS


def topic_names(settings: Settings) -> dict[str, str]:
    """File topic names (``purchases`` ...) to the configured topic names."""
    return {
        "purchases": settings.topics.purchases,
        "support-tickets": settings.topics.tickets,
        "interactions": settings.topics.interactions,
    }


def produce_file(
    settings: Settings, path: Path, *, topic: str | None = None, validate: bool = True
) -> tuple[int, list[tuple[int, str]]]:
    """Send each line of ``path``; returns (sent, [(line number, error)] rejected)."""
    names = topic_names(settings)
    limits = Limits(settings.worker.max_payload_bytes, settings.worker.max_future_skew_ms)
    producer = KafkaProducer(linger_ms=5, **kafka_client_config(settings.kafka))
    sent = 0
    rejected: list[tuple[int, str]] = []
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                key: bytes | None = None
                target = topic
                try:
                    obj = parse_payload(line, limits)
                    file_topic = obj.pop("topic", None)
                    target = target or names.get(str(file_topic))
                    if target is None:
                        raise InvalidEvent("unknown_topic", f"no input topic {file_topic!r:.40}")
                    kind = FILE_TOPICS.get(
                        next((k for k, v in names.items() if v == target), ""), None
                    )
                    if validate:
                        if kind is None:
                            raise InvalidEvent("unknown_topic", f"{target!r} is not an input topic")
                        event = validate_event(kind, obj, reference_ms=None, limits=limits)
                        key = event.customer_id.encode()
                    elif isinstance(obj.get("customer_id"), str):
                        key = obj["customer_id"].encode("utf-8", "surrogatepass")
                    value = orjson.dumps(obj)
                except InvalidEvent as exc:
                    if validate or target is None:
                        rejected.append((number, str(exc)))
                        continue
                    value = line
                producer.send(target, key=key, value=value)
                sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent, rejected
