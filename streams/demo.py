"""``relscore demo``: the local stack, a worker, a scripted population, a readable summary."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from scorers.config import ScoringConfig
from streams.process import WorkerProcess
from streams.reader import latest_by_customer, read_all, wait_caught_up
from streams.scenario import scripted_population
from streams.settings import Settings
from streams.stack import StackError, stack_down, stack_status, stack_up
from streams.topics import ensure_topics, kafka_client_config, required_topics

BANDS = ("excellent", "good", "fair", "poor")


def demo_settings(settings: Settings, run_id: str) -> Settings:
    """Settings whose topics and consumer group belong to this demo run alone."""
    prefix = f"demo-{run_id}."
    return dataclasses.replace(
        settings,
        app_id=f"relscore-demo-{run_id}",
        topic_purchases=prefix + "purchases",
        topic_tickets=prefix + "support-tickets",
        topic_interactions=prefix + "interactions",
        topic_scores=prefix + "relationship-scores",
        topic_alerts=prefix + "relationship-alerts",
        topic_dlq=prefix + "relationship-dlq",
        topic_rekey=prefix + "rekey",
        data_dir=str(Path(settings.run_dir) / f"demo-{run_id}" / "worker"),
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _produce(settings: Settings, events: list[dict[str, Any]]) -> None:
    names = {
        "purchases": settings.topic_purchases,
        "support-tickets": settings.topic_tickets,
        "interactions": settings.topic_interactions,
    }
    producer = KafkaProducer(linger_ms=5, **kafka_client_config(settings))
    try:
        for event in events:
            body = {k: v for k, v in event.items() if k != "topic"}
            producer.send(names[event["topic"]], key=event["customer_id"].encode(),
                          value=orjson.dumps(body))
        producer.flush()
    finally:
        producer.close()


def _delete_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(**kafka_client_config(settings))
    try:
        names = [spec.name for spec in required_topics(settings)]
        existing = set(admin.list_topics())
        admin.delete_topics([n for n in names if n in existing])
    finally:
        admin.close()


def summary_lines(scores: dict[str, dict[str, Any]], alerts: list[dict[str, Any]],
                  events: int, seconds: float) -> list[str]:
    """The demo's closing summary, for a customer-success lead."""
    bands = Counter(message["band"] for message in scores.values())
    lines = [
        f"Scored {events} events for {len(scores)} customers in {seconds:.1f} s.",
        "Customers per band: " + ", ".join(f"{band} {bands.get(band, 0)}" for band in BANDS),
        f"Alerts: {len(alerts)}",
    ]
    for alert in alerts:
        lines.append(
            f"  {alert['severity'].upper():8} {alert['type']:15} {alert['customer_id']:14} "
            f"score {alert['score']:5.1f} (was {alert['previous_score']}) at {alert['as_of']}"
        )
        lines.extend(f"      - {driver['detail']}" for driver in alert["drivers"])
    lines.append("Customers below 60 now: " + (", ".join(
        f"{cid} ({message['score']:.1f})"
        for cid, message in sorted(scores.items(), key=lambda kv: kv[1]["score"])
        if message["score"] < 60
    ) or "none"))
    return lines


def run_demo(settings: Settings, cfg: ScoringConfig, *, keep_stack: bool = False) -> int:
    """Run the whole tour; returns the exit code."""
    started_stack = False
    try:
        before = stack_status(settings)
        if not (before.kafka_up and before.redis_up):
            _say("Starting the local stack (Kafka + Redis); the first run fetches Kafka jars...")
            stack_up(settings, echo=_say)
            started_stack = True
    except StackError as exc:
        _say(f"relscore demo: cannot start the stack: {exc}")
        return 3
    run_id = str(int(time.time()))
    demo = demo_settings(settings, run_id)
    worker = WorkerProcess(demo, Path(settings.run_dir) / f"demo-{run_id}" / "worker.log")
    try:
        ensure_topics(demo)
        _say(f"Starting a worker (log: {worker.log_path})...")
        worker.start().wait_ready()
        phases = scripted_population(loyal=6, churning=3, newcomers=2)
        total = sum(len(phase) for phase in phases)
        produced = 0
        t0 = time.monotonic()
        for number, phase in enumerate(phases, start=1):
            _produce(demo, phase)
            produced += len(phase)
            wait_caught_up(demo)
            bar = "#" * (20 * produced // total)
            _say(f"  phase {number}/{len(phases)} scored  [{bar:<20}] {produced}/{total} events")
        elapsed = time.monotonic() - t0
        scores = latest_by_customer(read_all(demo, demo.topic_scores))
        alerts = read_all(demo, demo.topic_alerts)
        _say("")
        for line in summary_lines(scores, alerts, total, elapsed):
            _say(line)
        _say("")
        _say(f"Topics of this run are prefixed demo-{run_id}. "
             "Follow live output with `relscore tail alerts --from-beginning` "
             "(set RELSCORE_TOPIC_ALERTS to the demo's topic).")
    except (KafkaError, TimeoutError, RuntimeError) as exc:
        _say(f"relscore demo failed: {exc}\n{worker.log_tail()}")
        return 1
    finally:
        worker.stop()
        with contextlib.suppress(KafkaError):
            _delete_topics(demo)  # best effort: the demo's topics are throwaway
        if started_stack and not keep_stack:
            _say("Stopping the local stack (use --keep-stack to leave it running).")
            stack_down(settings)
    return 0
