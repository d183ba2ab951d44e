"""The core pipeline on the real broker: scripted history in, scores and alerts out."""

from __future__ import annotations

import subprocess
import sys
import time
import unicodedata
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scorers.config import DAY_MS, DEFAULT_CONFIG
from scorers.model import BAND_NAMES, band_of
from scorers.timefmt import parse_rfc3339_ms
from streams.laptop.scenario import healthy_history, scripted_population
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.partitioning import partition_for
from streams.runtime.topic_layout import changelog_topic
from streams.settings import Settings
from streams.tools.offline_scoring import OfflineResult, score_lines
from streams.tools.topic_reader import (
    latest_by_customer,
    read_all,
    read_records,
    wait_caught_up,
)
from tests.support.stack_fixtures import EventProducer

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def offline(events: list[dict[str, Any]]) -> OfflineResult:
    return score_lines([orjson.dumps(e) for e in events], DEFAULT_CONFIG, reference_ms=None)


def alert_ids(alerts: list[dict[str, Any]]) -> list[str]:
    return sorted(alert["alert_id"] for alert in alerts)


def crossings(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((alert["customer_id"], alert["type"]) for alert in alerts)


def by_crossing(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(alerts, key=lambda a: (a["customer_id"], a["type"], a["as_of"]))


def test_scripted_history_gives_expected_scores_and_exactly_the_expected_alerts(
    settings: Settings, start_worker: StartWorker, produce: EventProducer, tmp_path: Path
) -> None:
    phases = scripted_population(loyal=3, churning=2, newcomers=1)
    # The history is in Kafka before the worker starts (a replay), so the event-time clocks
    # wait for every topic; later phases come from one topic each.
    produce.events(phases[0])
    start_worker(settings)
    for phase in phases:
        if phase is not phases[0]:
            produce.events(phase)
        wait_caught_up(settings)

    everything = [event for phase in phases for event in phase]
    expected = offline(everything)
    scores = latest_by_customer(read_all(settings, settings.topics.scores))
    alerts = read_all(settings, settings.topics.alerts)

    assert set(scores) == set(expected.scores)
    for customer, message in expected.scores.items():
        assert scores[customer]["score"] == pytest.approx(message["score"], abs=0.1), customer
        assert scores[customer]["band"] == message["band"]
    assert alert_ids(alerts) == alert_ids(expected.alerts)
    assert len(alerts) == len(set(alert_ids(alerts))), "an alert was published twice"
    alerted = {alert["customer_id"] for alert in alerts if alert["type"] == "below_threshold"}
    assert alerted == {"churning-0", "churning-1"}
    newcomer = scores["newcomer-0"]
    assert "newcomer-0" not in {alert["customer_id"] for alert in alerts}, "one event pages no one"
    assert newcomer["score"] >= 60 or newcomer["alert_hold"] == "thin_evidence", newcomer
    for alert in alerts:
        assert alert["drivers"], "an alert must say why"
        assert alert["emitted_at"].endswith("Z")

    # The same history through `relscore score` gives the same final scores.
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(orjson.dumps(e) for e in everything) + b"\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "score", str(events_file), "--out", str(out)],
        capture_output=True, text=True, env={**settings.to_env(), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = (out / "scores.jsonl").read_bytes().splitlines()
    file_scores = {m["customer_id"]: m for m in map(orjson.loads, lines)}
    assert {c: m["score"] for c, m in file_scores.items()} == {
        c: m["score"] for c, m in scores.items()
    }
    file_alerts = [orjson.loads(line) for line in (out / "alerts.jsonl").read_bytes().splitlines()]
    assert alert_ids(file_alerts) == alert_ids(alerts)


def test_bad_input_goes_to_the_dlq_with_a_reason_and_scoring_goes_on(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    worker = start_worker(settings)
    good = healthy_history("steady", days=30)
    produce.events(good[: len(good) // 2])
    purchases = settings.topics.purchases
    valid = orjson.loads(orjson.dumps({k: v for k, v in good[0].items() if k != "topic"}))
    bad: list[tuple[str, bytes | None, bytes | None, str]] = [
        (purchases, b"{not json", b"steady", "not_json"),
        (purchases, b"[1, 2, 3]", b"steady", "not_object"),
        (purchases, orjson.dumps({**valid, "event_id": "x1", "amount": "12"}), b"steady",
         "bad_type"),
        (purchases, orjson.dumps({**valid, "event_id": "x2", "amount": -5}), b"steady",
         "out_of_range"),
        (purchases, orjson.dumps({k: v for k, v in valid.items() if k != "ts"}), b"steady",
         "missing_field"),
        (purchases, orjson.dumps({**valid, "event_id": "x3", "filler": "a" * 70_000}),
         b"steady", "oversized"),
        (purchases, b"\xff\xfe\x00garbage", None, "not_json"),
        (purchases, orjson.dumps({**valid, "event_id": "x4", "customer_id": "ste\u200bady"}),
         b"steady", "bad_id"),
        (settings.topics.tickets, orjson.dumps({**valid, "event_id": "x5"}), b"steady",
         "missing_field"),
        (purchases, orjson.dumps({**valid, "event_id": "x6", "ts": 4_102_444_800_000}),
         b"steady", "future_timestamp"),
    ]
    for topic, value, key, _ in bad:
        produce.raw(topic, value, key)
    # Same customer written in NFD with an NFD key: re-keyed to the NFC id and scored.
    nfd = unicodedata.normalize("NFD", "José")
    rekeyed = {**valid, "event_id": "nfd-1", "customer_id": nfd}
    produce.raw(purchases, orjson.dumps(rekeyed), nfd.encode())
    produce.events(good[len(good) // 2 :])
    wait_caught_up(settings)

    dlq = read_all(settings, settings.topics.dlq)
    assert Counter(m["reason"] for m in dlq) == Counter(reason for *_, reason in bad)
    for message in dlq:
        assert message["source_topic"] in (purchases, settings.topics.tickets)
        assert isinstance(message["offset"], int) and isinstance(message["partition"], int)
        assert message["error"]
    binary = next(m for m in dlq if m["raw_encoding"] == "base64")
    assert binary["reason"] == "not_json"
    oversized = next(m for m in dlq if m["reason"] == "oversized")
    assert "65536" in oversized["error"]

    scores = latest_by_customer(read_all(settings, settings.topics.scores))
    # Every good event was applied; the last message is the last one that changed something.
    expected = offline(good)
    assert expected.states["steady"].events_seen == len(good)
    assert scores["steady"]["events_seen"] == expected.scores["steady"]["events_seen"]
    assert scores["steady"]["score"] == expected.scores["steady"]["score"]
    assert unicodedata.normalize("NFC", "José") in scores
    assert worker.process is not None and worker.process.poll() is None, "worker died"

    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("relscore_dlq_messages_total", (("reason", "oversized"),))] == 1
    rekeyed = ("relscore_events_total", (("outcome", "rekeyed"), ("topic", purchases)))
    assert samples[rekeyed] >= 1
    assert "José" not in text and "steady" not in text, "no customer id in metric labels"


def test_records_off_their_keys_partition_are_rekeyed_and_their_rows_follow_the_key(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    """librdkafka's clients (kcat, confluent-kafka) partition keys with CRC32 by default. Their
    records are scored through the re-key topic, and the customer's changelog rows sit on its
    key's partition, where the records now are too: a rebalance moves both together."""
    worker = start_worker(settings)
    customer = "elsewhere"
    home = partition_for(customer.encode(), settings.topics.partitions)
    events = healthy_history(customer, days=30)
    produce.events(events, partition=(home + 1) % settings.topics.partitions)
    wait_caught_up(settings)

    scores = latest_by_customer(read_all(settings, settings.topics.scores))
    expected = offline(events)
    # Every event was applied; the last message is the last one that changed something.
    assert expected.states[customer].events_seen == len(events)
    assert scores[customer]["events_seen"] == expected.scores[customer]["events_seen"]
    assert scores[customer]["score"] == expected.scores[customer]["score"]
    rows = [(record.partition, record.key)
            for record in read_records(settings, changelog_topic(settings))]
    assert {partition for partition, key in rows if key == customer.encode()} == {home}
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    rekeyed = sum(sample.value for family in text_string_to_metric_families(text)
                  for sample in family.samples if sample.name == "relscore_events_total"
                  and sample.labels.get("outcome") == "rekeyed")
    assert rekeyed == len(events)
    assert b"partitioner=murmur2_random" in Path(worker.log_path).read_bytes()


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_restart_recovers_state_and_repeats_no_alert(
    settings: Settings, start_worker: StartWorker, produce: EventProducer, store: str,
) -> None:
    settings = settings.override(table_store=store)
    healthy, sour, storm = scripted_population(loyal=2, churning=2, newcomers=0)
    produce.events(healthy)
    first = start_worker(settings, name="first")
    produce.events(sour)
    wait_caught_up(settings)
    assert first.stop() == 0
    alerts_before = read_all(settings, settings.topics.alerts)

    if store == "memory://":
        # A new worker with an empty local store rebuilds the table from its changelog.
        second = start_worker(settings, name="second",
                              data_dir=settings.worker.data_dir + "-2")
    else:
        # The same data directory: the rows the first worker wrote to RocksDB (each in its
        # key's partition, with the changelog offset it holds) are read back from disk.
        assert list(Path(settings.worker.data_dir).rglob("*.sst")) or list(
            Path(settings.worker.data_dir).rglob("*.log")), "no RocksDB files were written"
        second = start_worker(settings, name="second")
    # Its band counts are rebuilt from the recovered rows, before any new event arrives.
    recovered = Counter(band_of(m["score"]) for m in
                        latest_by_customer(read_all(settings, settings.topics.scores)).values())
    wanted = {band: float(recovered.get(band, 0)) for band in BAND_NAMES}
    deadline = time.monotonic() + 30
    while (counted := band_gauges(second)) != wanted:
        assert time.monotonic() < deadline, f"bands after recovery {counted} != {wanted}"
        time.sleep(0.2)
    produce.events(sour)  # redelivered duplicates: must change nothing
    produce.events(storm)
    wait_caught_up(settings)

    expected = offline(healthy + sour + storm)
    alerts = read_all(settings, settings.topics.alerts)
    # The same crossings as the offline replay. A live partition clock waits for inputs with
    # records still to read, so a crossing by decay can be seen at the customer's next event
    # instead (later, never earlier); which one depends on how the records were fetched.
    assert crossings(alerts) == crossings(expected.alerts)
    for live, replayed in zip(by_crossing(alerts), by_crossing(expected.alerts), strict=True):
        seen, due = parse_rfc3339_ms(live["as_of"]), parse_rfc3339_ms(replayed["as_of"])
        assert due <= seen <= due + 2 * DAY_MS, (live["alert_id"], replayed["alert_id"])
    assert len(alerts) == len(set(alert_ids(alerts)))
    assert set(alert_ids(alerts_before)) <= set(alert_ids(alerts))
    scores = latest_by_customer(read_all(settings, settings.topics.scores))
    for customer, message in expected.scores.items():
        assert scores[customer]["score"] == pytest.approx(message["score"], abs=0.1)
        assert scores[customer]["events_seen"] == message["events_seen"], customer


def band_gauges(worker: WorkerProcess) -> dict[str, float]:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return {sample.labels["band"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "relscore_customers"}


def test_worker_refuses_topics_that_cannot_be_copartitioned(
    stack: Settings, tmp_path: Path
) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    from streams.kafka_clients import kafka_client_config

    tag = f"mismatch-{uuid.uuid4().hex[:8]}"
    settings = stack.override(
        app_id=f"relscore-{tag}", topic_purchases=f"{tag}.purchases",
        topic_tickets=f"{tag}.support-tickets", topic_interactions=f"{tag}.interactions",
        topic_rekey=f"{tag}.rekey", topic_scores=f"{tag}.scores", topic_alerts=f"{tag}.alerts",
        topic_dlq=f"{tag}.dlq",
    )
    admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
    try:
        admin.create_topics([NewTopic(settings.topics.tickets, 3, 1)])
    finally:
        admin.close()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**settings.to_env(), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "partition counts do not match" in done.stderr
    assert f"{settings.topics.tickets}=3" in done.stderr
