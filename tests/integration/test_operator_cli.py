"""The operator commands on the real stack: simulate, customer, tail (child processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.kafka_clients import kafka_client_config
from streams.laptop.scenario import scripted_population
from streams.laptop.simulator import SimSpec, simulate
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings
from streams.tools.event_file_sender import topic_names
from streams.tools.topic_reader import latest_by_customer, read_all, wait_caught_up
from tests.support.stack_fixtures import EventProducer, free_port

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def relscore(settings: Settings, *args: str, timeout: float = 120.0,
             **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True,
        timeout=timeout, check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **settings.to_env(), **env},
    )


def raw_records(settings: Settings, topic: str) -> list[tuple[int, bytes | None, bytes]]:
    """(partition, key, value) of every record of ``topic``, in partition/offset order."""
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: dict[int, list[tuple[int, bytes | None, bytes]]] = {tp.partition: [] for tp in tps}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=1000).items():
                out[tp.partition].extend((tp.partition, r.key, r.value) for r in records)
        return [record for p in sorted(out) for record in out[p]]
    finally:
        consumer.close()


def test_simulate_sends_the_simulated_messages_keyed_and_in_order(settings: Settings) -> None:
    spec = SimSpec(customers=8, days=30, seed=5)
    done = relscore(settings, "simulate", "--customers", "8", "--days", "30", "--seed", "5",
                    "--rate", "0")
    assert done.returncode == 0, done.stderr
    sim = simulate(spec)
    assert f"sent {len(sim.records):,} messages" in done.stdout
    assert "8 customers (" in done.stdout and "malformed" in done.stdout
    names = topic_names(settings)
    for file_topic, topic in names.items():
        got = raw_records(settings, topic)
        want = [(r.key.encode() if r.key else None, r.value)
                for r in sim.records if r.topic == file_topic]
        assert sorted(((k or b""), v) for _, k, v in got) == sorted(
            ((k or b""), v) for k, v in want)
        # Each customer's messages arrive in the order the simulation sends them.
        for key in {k for k, _ in want if k is not None}:
            assert [v for _, k, v in got if k == key] == [v for k, v in want if k == key]


def test_customer_and_tail_answer_from_the_running_service(
    settings: Settings, start_worker: StartWorker, produce: EventProducer,
) -> None:
    worker = start_worker(settings)
    for phase in scripted_population(loyal=1, churning=1, newcomers=0):
        produce.events(phase)
        wait_caught_up(settings)
    produce.raw(settings.topics.purchases, b"{not json", b"loyal-0")
    wait_caught_up(settings)
    web = {"RELSCORE_WEB_HOST": "127.0.0.1", "RELSCORE_WEB_PORT": str(settings.web.port)}
    latest = latest_by_customer(read_all(settings, settings.topics.scores))
    alerts = read_all(settings, settings.topics.alerts)
    assert worker.process is not None

    done = relscore(settings, "customer", "churning-0", **web)
    assert done.returncode == 0, done.stderr
    assert "customer   churning-0" in done.stdout
    assert f"score      {latest['churning-0']['score']:.1f}" in done.stdout
    assert "below the alert threshold" in done.stdout
    assert "urgent" in done.stdout and "what pulls the score down" in done.stdout

    done = relscore(settings, "customer", "churning-0", "--json", **web)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["score"] == latest["churning-0"]["score"] and body["below_threshold"] is True

    done = relscore(settings, "customer", "nobody-at-all", **web)
    assert done.returncode == 1
    assert "'nobody-at-all' is unknown" in done.stderr

    done = relscore(settings, "customer", "churning-0", RELSCORE_WEB_HOST="127.0.0.1",
                    RELSCORE_WEB_PORT=str(free_port()))
    assert done.returncode == 3
    assert "cannot reach the relscore service" in done.stderr

    # tail: every alert once, filtered by customer, stopping at the end or after --max.
    done = relscore(settings, "tail", "alerts", "--from-beginning", "--no-follow")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(alerts) > 0
    assert all("churning-0" in line for line in lines)
    assert any("BELOW_THRESHOLD" in line.upper() and "urgent" in line for line in lines)
    done = relscore(settings, "tail", "scores", "--from-beginning", "--no-follow",
                    "--customer", "loyal-0")
    assert done.returncode == 0, done.stderr
    loyal = [m for m in read_all(settings, settings.topics.scores)
             if m["customer_id"] == "loyal-0"]
    assert len(done.stdout.splitlines()) == len(loyal) > 0
    assert all(line.split()[1] == "loyal-0" for line in done.stdout.splitlines())
    done = relscore(settings, "tail", "scores", "--from-beginning", "--max", "3")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3
    done = relscore(settings, "tail", "dlq", "--from-beginning", "--no-follow")
    assert done.returncode == 0, done.stderr
    assert "not_json" in done.stdout


def test_simulate_writes_an_event_file_that_scores_offline(settings: Settings,
                                                           tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    truth = tmp_path / "truth.json"
    done = relscore(settings, "simulate", "--customers", "12", "--days", "60", "--seed", "9",
                    "--out", str(events), "--truth", str(truth))
    assert done.returncode == 0, done.stderr
    sim = simulate(SimSpec(customers=12, days=60, seed=9))
    assert events.read_bytes().splitlines() == sim.lines()
    assert orjson.loads(truth.read_bytes())["personas"] == sim.personas
    out = tmp_path / "out"
    done = relscore(settings, "score", str(events), "--out", str(out))
    assert done.returncode == 0, done.stderr
    scored = [orjson.loads(line) for line in (out / "scores.jsonl").read_bytes().splitlines()]
    assert {m["customer_id"] for m in scored} == set(sim.personas)
    rejects = (out / "dlq.jsonl").read_bytes().splitlines()
    assert len(rejects) == sim.counts["malformed"]
