"""Helpers of the notify tests: alerts as the worker publishes them, produced by an independent
kafka-python client, and what a running ``relscore notify`` says about itself."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka_clients import kafka_client_config
from streams.laptop.webhook_inbox import WebhookInbox
from streams.laptop.worker_process import NotifyProcess
from streams.notify.owners import Owner
from streams.settings import Settings

SECRET = "team-hook-s3cret"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)


def alert(number: int, customer: str = "", **changes: Any) -> dict[str, Any]:
    """An alert as the worker publishes it."""
    customer = customer or f"cust-{number}"
    as_of = f"2026-11-{1 + number % 28:02d}T10:00:00Z"
    return {
        "alert_id": f"{customer}:below_threshold:{as_of}", "type": "below_threshold",
        "severity": "warning", "customer_id": customer, "segment": "smb", "score": 55.0,
        "previous_score": 62.0, "threshold": 60.0, "band": "fair",
        "drivers": [{"component": "support", "score": 41.0, "impact": -9.0,
                     "detail": "2 urgent tickets open past SLA"}],
        "confidence": 0.9, "evidence": 12, "as_of": as_of, "emitted_at": as_of, **changes,
    }


def produce(settings: Settings, topic: str, records: Iterable[tuple[str, bytes | None]]) -> None:
    producer = KafkaProducer(**kafka_client_config(settings.kafka))
    try:
        for key, value in records:
            producer.send(topic, key=key.encode(), value=value)
        producer.flush()
    finally:
        producer.close()


def produce_alerts(settings: Settings, alerts: Iterable[dict[str, Any]]) -> None:
    produce(settings, settings.topics.alerts,
            ((a.get("customer_id", "nobody"), orjson.dumps(a)) for a in alerts))


def load_owners(settings: Settings, owners: Iterable[Owner]) -> None:
    produce(settings, settings.topics.owners, ((o.customer_id, o.to_json()) for o in owners))


def routes_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "routes.toml"
    path.write_text(text)
    return str(path)


def metric(process: NotifyProcess, name: str, **labels: str) -> float:
    with urllib.request.urlopen(process.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v
                                              for k, v in labels.items()))


def wait_metric(process: NotifyProcess, name: str, value: float, **labels: str) -> None:
    """Wait until a metric of ``process`` reads ``value`` (counters move just after the
    receiver answers: the delivery log is written first)."""
    wait_until(lambda: metric(process, name, **labels) == value,
               f"{name}{labels} == {value} (now {metric(process, name, **labels)})")


def keys(inbox: WebhookInbox) -> list[str | None]:
    return [delivery.idempotency_key for delivery in inbox.answered()]


def cleanup_policy(settings: Settings, topic: str) -> str:
    admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        return str(described["topic"][topic]["cleanup.policy"]["value"])
    finally:
        admin.close()
