"""The fault tests' harness itself, without Kafka: the workload is deterministic and valid, and
the checker notices every kind of damage it is meant to report (so a green fault test means
something)."""

from __future__ import annotations

import copy
import time
from collections import Counter
from typing import Any

import pytest

from scorers.config import DAY_MS, DEFAULT_CONFIG
from streams.runtime.partitioning import partition_for
from streams.settings import Settings
from streams.tools.offline_scoring import OfflineResult
from tests.support.fault_harness import (
    CLOCK,
    EVENTS,
    Report,
    Workload,
    check_alerts,
    check_scores,
    generate,
)

SETTINGS = Settings()


@pytest.fixture(scope="module")
def small() -> tuple[Workload, OfflineResult]:
    workload = generate(5, customers=40, rounds=3, round_gap_ms=10 * DAY_MS)
    return workload, workload.expected(DEFAULT_CONFIG, SETTINGS)


def test_a_seed_always_gives_the_same_workload() -> None:
    one, two = generate(3, 30, 2), generate(3, 30, 2)
    assert one.events == two.events and one.personas == two.personas
    assert generate(4, 30, 2).events != one.events


def test_events_are_valid_unique_numbered_and_in_the_past(
        small: tuple[Workload, OfflineResult]) -> None:
    workload, expected = small
    events = workload.events
    assert expected.rejects == [], expected.rejects[:3]
    assert max(e["ts"] for e in events) < time.time() * 1000
    ids = Counter(e["event_id"] for e in events)
    assert sum(ids.values()) - len(ids) == workload.duplicates_sent == expected.duplicates
    for customer in workload.customers:
        seqs = [e["seq"] for e in events if e["customer_id"] == customer]
        assert sorted(set(seqs)) == list(range(1, max(seqs) + 1)), customer
    assert set(Counter(workload.personas.values())) == {
        "loyal", "slipping", "churning", "recovering", "quiet"}
    assert {a["type"] for a in expected.alerts} >= {"below_threshold", "recovered"}


def test_phases_alternate_clock_and_events_with_one_topic_per_customer_and_round(
        small: tuple[Workload, OfflineResult]) -> None:
    workload, _ = small
    assert [p.kind for p in workload.phases] == [CLOCK, EVENTS] * workload.rounds
    for clock, events in zip(workload.phases[::2], workload.phases[1::2], strict=True):
        ticks = {e["ts"] for e in clock.events}
        assert len(ticks) == 1
        (tick,) = ticks
        covered = {(partition_for(e["customer_id"].encode(), workload.partitions), e["topic"])
                   for e in clock.events}
        assert len(covered) == workload.partitions * 3, "a clock event on every topic-partition"
        topics: dict[str, set[str]] = {}
        for e in events.events:
            assert tick - SETTINGS.worker.allowed_lateness_ms < e["ts"] <= tick - 10_000
            topics.setdefault(e["customer_id"], set()).add(e["topic"])
        assert all(len(t) == 1 for t in topics.values())


def messages_of(expected: OfflineResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    scores = [copy.deepcopy(m) for m in expected.scores.values()]
    alerts = [{**copy.deepcopy(a), "emitted_at": "2026-11-28T10:00:00Z"} for a in expected.alerts]
    return scores, alerts


def run_checks(expected: OfflineResult, scores: list[dict[str, Any]],
               alerts: list[dict[str, Any]]) -> Report:
    report = Report()
    check_scores(expected, scores, report)
    check_alerts(expected, alerts, report)
    return report


def test_the_expected_outcome_passes(small: tuple[Workload, OfflineResult]) -> None:
    _, expected = small
    report = run_checks(expected, *messages_of(expected))
    assert report.ok(allow_redelivered=False), report.summary()


def test_a_lost_event_and_a_double_count_are_lost_updates(
        small: tuple[Workload, OfflineResult]) -> None:
    _, expected = small
    scores, alerts = messages_of(expected)
    scores[0]["events_seen"] -= 1
    scores[1]["events_seen"] += 1
    scores[2]["score"] = round(scores[2]["score"] + 0.1, 1)
    del scores[3]
    report = run_checks(expected, scores, alerts)
    assert len(report.lost_updates) == 4
    assert "<no score message>" in str(report.lost_updates) or any(
        m.actual is None for m in report.lost_updates)
    assert not report.ok(allow_redelivered=True)


def test_a_stale_message_after_the_final_one_is_a_lost_update(
        small: tuple[Workload, OfflineResult]) -> None:
    _, expected = small
    scores, alerts = messages_of(expected)
    stale = {**scores[0], "events_seen": scores[0]["events_seen"] - 2}
    report = run_checks(expected, [*scores, stale], alerts)
    assert [m.customer_id for m in report.lost_updates] == [scores[0]["customer_id"]]


def test_alert_problems_are_told_apart(small: tuple[Workload, OfflineResult]) -> None:
    _, expected = small
    scores, alerts = messages_of(expected)
    assert len(alerts) >= 3
    redelivered = {**alerts[0], "emitted_at": "2026-11-28T11:00:00Z"}
    conflicting = {**alerts[1], "score": alerts[1]["score"] - 1}
    missing = alerts[2]
    other_crossing = {**alerts[0], "alert_id": alerts[0]["alert_id"] + "-again",
                      "as_of": "2026-12-01T00:00:00Z"}
    sent = [a for a in alerts if a is not missing] + [redelivered, conflicting, other_crossing]
    report = run_checks(expected, scores, sent)
    assert report.redelivered_alerts == [alerts[0]["alert_id"]]
    assert [p.alert_id for p in report.conflicting_alerts] == [alerts[1]["alert_id"]]
    assert [p.alert_id for p in report.missing_alerts] == [missing["alert_id"]]
    assert [p.alert_id for p in report.unexpected_alerts] == [other_crossing["alert_id"]]
    assert alerts[0]["alert_id"] in report.unexpected_alerts[0].detail, "names the crossing"
    only_redelivery = run_checks(expected, scores, [*alerts, redelivered])
    assert only_redelivery.ok(allow_redelivered=True)
    assert not only_redelivery.ok(allow_redelivered=False)
