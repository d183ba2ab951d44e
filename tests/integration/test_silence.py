"""Silence is a signal: a customer who stops buying and talking alerts on time, with no event
of its own, and a replay of the same input gives the same alerts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from scorers.config import DAY_MS, DEFAULT_CONFIG
from scorers.timefmt import parse_rfc3339_ms
from streams.laptop.scenario import healthy_history
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.partitioning import partition_for
from streams.runtime.topic_layout import ensure_topics
from streams.settings import Settings
from streams.tools.offline_scoring import score_lines
from streams.tools.topic_reader import read_all, wait_caught_up
from tests.support.stack_fixtures import EventProducer

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def clock_customers(partitions: int) -> list[str]:
    """One customer id per partition, whose events move every partition's clock."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        cid = f"clock-{n}"
        found.setdefault(partition_for(cid.encode(), partitions), cid)
        n += 1
    return [found[p] for p in range(partitions)]


def heartbeats(customers: list[str], start_ms: int, days: int) -> list[dict[str, Any]]:
    return [
        {"topic": "interactions", "event_id": f"{cid}-hb{day}", "customer_id": cid,
         "ts": start_ms + day * DAY_MS, "channel": "login"}
        for day in range(days) for cid in customers
    ]


def without_emitted_at(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in a.items() if k != "emitted_at"} for a in alerts),
                  key=lambda a: a["alert_id"])


def test_a_silent_customer_alerts_once_on_time_and_a_replay_gives_the_same_alerts(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    start_worker(settings)
    # In the past, so that no event is ahead of its record time (those go to the DLQ).
    start = time.time_ns() // 1_000_000 - 320 * DAY_MS
    history = sorted(healthy_history("quiet", days=120, start_ms=start), key=lambda e: e["ts"])
    last_event = max(e["ts"] for e in history)
    # Other customers keep every partition's event-time clock moving for 150 more days.
    beats = heartbeats(clock_customers(settings.topics.partitions), last_event + DAY_MS, 150)
    produce.events(history)
    produce.events(beats)
    wait_caught_up(settings)
    assert read_all(settings, settings.topics.dlq) == []

    alerts = [a for a in read_all(settings, settings.topics.alerts) if a["customer_id"] == "quiet"]
    below = [a for a in alerts if a["type"] == "below_threshold"]
    assert len(below) == 1, alerts
    alert = below[0]
    silent_days = (parse_rfc3339_ms(alert["as_of"]) - last_event) / DAY_MS
    assert 30 < silent_days < 150, silent_days
    details = " ".join(d["detail"] for d in alert["drivers"])
    assert "no purchase in" in details and "no contact in" in details, details
    scores = [m for m in read_all(settings, settings.topics.scores) if m["customer_id"] == "quiet"]
    crossing = next(m for m in scores if m["as_of"] == alert["as_of"])
    assert crossing["reason"] == "decay" and crossing["score"] == alert["score"]

    # The offline scorer, with the same per-partition clocks, finds the same alerts.
    expected = score_lines([orjson.dumps(e) for e in history + beats], DEFAULT_CONFIG,
                           reference_ms=None, partitions=settings.topics.partitions,
                           allowed_lateness_ms=settings.worker.allowed_lateness_ms)
    quiet_expected = [a for a in expected.alerts if a["customer_id"] == "quiet"]
    assert without_emitted_at(alerts) == without_emitted_at(quiet_expected)

    # A replay: a new group reads the same input topics from the start into new outputs.
    tag = settings.worker.app_id + "-replay"
    replay = settings.override(
        app_id=tag, topic_scores=f"{tag}.scores", topic_alerts=f"{tag}.alerts",
        topic_dlq=f"{tag}.dlq", topic_rekey=f"{tag}.rekey",
        data_dir=settings.worker.data_dir + "-replay",
        redis_prefix=settings.redis.prefix + "replay:",
    )
    ensure_topics(replay)
    from tests.support.stack_fixtures import free_port

    start_worker(replay, name="replay", web_port=free_port())
    wait_caught_up(replay)
    replayed = read_all(replay, replay.topics.alerts)
    assert without_emitted_at(replayed) == without_emitted_at(read_all(settings,
                                                                       settings.topics.alerts))


def test_wall_clock_mode_alerts_a_customer_silent_up_to_now(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    now = time.time_ns() // 1_000_000
    start = now - 220 * DAY_MS
    history = healthy_history("gone-quiet", days=100, start_ms=start)
    start_worker(settings, clock="wall", tick_interval_s=0.5)
    produce.events(history)
    wait_caught_up(settings, include_rekey=False)
    deadline = time.monotonic() + 60
    alerts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        alerts = read_all(settings, settings.topics.alerts)
        if any(a["type"] == "below_threshold" for a in alerts):
            break
        time.sleep(0.5)
    below = [a for a in alerts if a["type"] == "below_threshold"]
    assert len(below) == 1, f"no decay alert from wall-clock ticks: {alerts}"
    assert parse_rfc3339_ms(below[0]["as_of"]) > max(e["ts"] for e in history)
