"""Serving the scores: the Redis read model (through an outage) and the HTTP API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from streams.laptop.scenario import scripted_population
from streams.laptop.stack import start_redis, stop_redis
from streams.laptop.stack_settings import StackSettings
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings
from streams.tools.topic_reader import latest_by_customer, read_all, wait_caught_up
from tests.support.stack_fixtures import EventProducer

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def read_model(settings: Settings) -> tuple[dict[str, float], dict[str, float]]:
    client = redis.Redis.from_url(settings.redis.url)
    try:
        prefix = settings.redis.prefix
        scores = {m.decode(): s for m, s in client.zrange(f"{prefix}scores", 0, -1,
                                                          withscores=True)}
        at_risk = {m.decode(): s for m, s in client.zrange(f"{prefix}at_risk", 0, -1,
                                                           withscores=True)}
        return scores, at_risk
    finally:
        client.close()


def wait_for_read_model(settings: Settings, expected: dict[str, float],
                        timeout: float = 60.0) -> tuple[dict[str, float], dict[str, float]]:
    deadline = time.monotonic() + timeout
    scores: dict[str, float] = {}
    at_risk: dict[str, float] = {}
    while time.monotonic() < deadline:
        try:
            scores, at_risk = read_model(settings)
        except redis.ConnectionError:
            scores, at_risk = {}, {}
        if scores == expected:
            return scores, at_risk
        time.sleep(0.3)
    raise AssertionError(f"read model did not converge: {scores} != {expected}")


def metric(url: str, name: str, labels: dict[str, str] | None = None) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in (labels or {}).items()):
                total += sample.value
    return total


def test_read_model_holds_the_final_scores_and_converges_after_a_redis_outage(
    settings: Settings, local_stack: StackSettings, start_worker: StartWorker,
    produce: EventProducer,
) -> None:
    worker = start_worker(settings)
    healthy, sour, storm = scripted_population(loyal=3, churning=2, newcomers=1)
    produce.events(healthy)
    wait_caught_up(settings)
    topic_scores = latest_by_customer(read_all(settings, settings.topics.scores))
    wait_for_read_model(settings, {c: m["score"] for c, m in topic_scores.items()})

    stop_redis(local_stack)
    try:
        produce.events(sour)
        produce.events(storm)
        wait_caught_up(settings)  # scoring goes on without Redis
        during = latest_by_customer(read_all(settings, settings.topics.scores))
        assert during["churning-0"]["score"] < 60, "scores kept flowing during the outage"
        deadline = time.monotonic() + 30
        while metric(worker.url, "relscore_redis_errors_total") == 0:
            assert time.monotonic() < deadline, "the projector never noticed Redis was down"
            time.sleep(0.3)
        assert metric(worker.url, "relscore_redis_pending_customers") > 0
    finally:
        start_redis(local_stack)

    # Redis came back empty (no persistence): the projector rebuilds it from the topic.
    expected = {c: m["score"] for c, m in during.items()}
    _, at_risk = wait_for_read_model(settings, expected)
    # At risk: under 60 with the evidence to page; the one-event newcomer is on alert_hold.
    assert at_risk == {c: s for c, s in expected.items()
                       if s < 60 and not during[c]["alert_hold"]}
    assert set(at_risk) == {"churning-0", "churning-1"}
    client = redis.Redis.from_url(settings.redis.url, decode_responses=True)
    try:
        row = client.hgetall(f"{settings.redis.prefix}customer:churning-0")
    finally:
        client.close()
    assert float(row["score"]) == expected["churning-0"]
    assert row["band"] == during["churning-0"]["band"]
    assert orjson.loads(row["components"]) == during["churning-0"]["components"]


def test_http_api_answers_for_every_customer_from_either_worker(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    first = start_worker(settings, name="a", web_advertised_host="127.0.0.1")
    healthy, sour, storm = scripted_population(loyal=4, churning=2, newcomers=1)
    second = start_worker(settings, name="b", web_port=_other_port(settings),
                          web_advertised_host="127.0.0.1")
    for phase in (healthy, sour, storm):
        produce.events(phase)
        wait_caught_up(settings)
    scores = latest_by_customer(read_all(settings, settings.topics.scores))
    wait_for_read_model(settings, {c: m["score"] for c, m in scores.items()})

    for worker in (first, second):
        status, body = get_json(worker.url + "/healthz")
        assert (status, body["status"]) == (200, "ok")
        for customer, message in scores.items():
            status, body = get_json(f"{worker.url}/customers/{urllib.parse.quote(customer)}")
            assert status == 200, (worker.url, customer, body)
            assert body["customer_id"] == customer
            assert body["score"] == message["score"]
            assert body["components"] == message["components"]
        status, body = get_json(worker.url + "/customers/nobody-here")
        assert status == 404 and body["error"] == "unknown_customer"
        status, body = get_json(worker.url + "/customers/bad%E2%80%8Bid")
        assert status == 400 and body["error"] == "bad_customer_id"

        status, body = get_json(worker.url + "/at-risk?limit=10")
        assert status == 200
        listed = [item["customer_id"] for item in body["customers"]]
        assert set(listed) == {"churning-0", "churning-1"}
        assert [item["score"] for item in body["customers"]] == sorted(
            item["score"] for item in body["customers"])
        assert all(item["drivers"] for item in body["customers"])
        status, body = get_json(worker.url + "/at-risk?limit=1")
        assert status == 200 and len(body["customers"]) == 1
        for bad in ("0", "abc", "5000"):
            status, body = get_json(worker.url + f"/at-risk?limit={bad}")
            assert status == 400 and body["error"] == "bad_limit", bad

    # Both workers really own partitions: each scored some events itself.
    scored = [metric(w.url, "relscore_events_total", {"outcome": "scored"})
              for w in (first, second)]
    assert all(count > 0 for count in scored), scored


def _other_port(settings: Settings) -> int:
    from tests.support.stack_fixtures import free_port

    port = free_port()
    while port == settings.web.port:
        port = free_port()
    return port


def test_standalone_projector_keeps_redis_when_the_worker_does_not(
    settings: Settings, start_worker: StartWorker, produce: EventProducer, tmp_path: Any
) -> None:
    """RELSCORE_PROJECTOR=off: the worker writes no Redis row; `relscore project` does."""
    worker = start_worker(settings, projector="off")
    for events in scripted_population(loyal=2, churning=2, newcomers=0):
        produce.events(events)
    wait_caught_up(settings)
    expected = {c: m["score"] for c, m in
                latest_by_customer(read_all(settings, settings.topics.scores)).items()}
    assert read_model(settings) == ({}, {}), "the worker projected although told not to"
    assert metric(worker.url, "relscore_redis_customers_written_total") == 0

    metrics_port = _other_port(settings)
    log_path = tmp_path / "project.log"
    env = {**os.environ, **settings.to_env()}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "project", "--metrics-port",
             str(metrics_port)], stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    try:
        _, at_risk = wait_for_read_model(settings, expected)
        assert at_risk == {c: s for c, s in expected.items() if s < 60}
        assert set(at_risk) == {"churning-0", "churning-1"}
        url = f"http://127.0.0.1:{metrics_port}"
        assert metric(url, "relscore_redis_customers_written_total") >= len(expected)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0, log_path.read_text()
    assert "projector stopped" in log_path.read_text()
