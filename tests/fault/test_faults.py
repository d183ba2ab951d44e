"""Fault tests on the real stack: nothing lost, nothing twice.

Each test feeds the shared seeded workload (tests.support.fault_harness: 200 customers, clock and
event
phases) through real workers while it injects one kind of fault, checks that the fault really
happened (the process died or stopped, the broker's port closed, the group generation moved,
...), and then lets the harness compare the score topic, the alert topic and, where Redis is
involved, the read model with the offline scorer's outcome for the same events:

- every customer's final score message equals the expected one (score, band, components,
  confidence, as_of, reason, and events_seen, which counts applied events: a lost or doubly
  applied event shows there);
- every expected alert was published, no other alert was, and no alert id was published with
  other content. A second copy of an alert identical but for ``emitted_at`` is an at-least-once
  redelivery: the fault tests accept those (and print how many there were); the fault-free
  baseline at the start of the cold-recovery test accepts none.

Seeded: RELSCORE_FAULT_SEED picks the workload and the fault points (default 1128).
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scorers.config import DEFAULT_CONFIG
from streams.laptop.stack import (
    restart_kafka,
    stack_status,
    start_kafka,
    start_redis,
    stop_kafka,
    stop_redis,
)
from streams.laptop.stack_settings import StackSettings
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.group_offsets import group_lag
from streams.settings import Settings
from streams.tools.offline_scoring import OfflineResult
from streams.tools.topic_reader import wait_caught_up
from tests.fault.faults import (
    generations,
    group_members,
    latest_generation,
    port_open,
    process_state,
    signal_worker,
    verdict,
    wait_until,
)
from tests.support.fault_harness import CLOCK, Phase, Workload, check, feed
from tests.support.stack_fixtures import free_port

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]

# RELSCORE_SESSION_TIMEOUT_S: a dead or paused worker loses its partitions after this long.
SESSION_TIMEOUT_S = 10.0

OWN_STACK = " (give the fault tests a stack of their own: RELSCORE_* ports)"


def other_port(settings: Settings) -> int:
    port = free_port()
    while port == settings.web.port:
        port = free_port()
    return port


def two_workers(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per-worker overrides: own web port and data directory, short session timeout."""
    common = {"session_timeout_s": SESSION_TIMEOUT_S, "web_advertised_host": "127.0.0.1"}
    data_dir = settings.worker.data_dir
    return {
        "a": {**common, "web_port": settings.web.port, "data_dir": data_dir + "-a"},
        "b": {**common, "web_port": other_port(settings), "data_dir": data_dir + "-b"},
    }


def input_lag(settings: Settings) -> int:
    return group_lag(settings, [*settings.topics.inputs, settings.topics.rekey])


def metric(worker: WorkerProcess, name: str) -> float:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == name)


def heavy_phases(workload: Workload) -> list[int]:
    """Indices of the clock phases after the first round: they fire most decay re-scores,
    so a fault right after sending one lands while the worker is busy."""
    return [i for i, phase in enumerate(workload.phases) if phase.kind == CLOCK and phase.round]


def test_broker_gone_exits_nonzero(
    local_stack: StackSettings, settings: Settings, start_worker: StartWorker,
) -> None:
    """With the broker gone past RELSCORE_BROKER_TIMEOUT_S the worker exits with code 3 and
    says why, instead of hanging."""
    if stack_status(local_stack).kafka_pid is None:
        pytest.fail("Kafka was not started by relscore stack: cannot stop it" + OWN_STACK)
    timeout_s = 15.0
    worker = start_worker(settings, broker_timeout_s=timeout_s)
    assert worker.process is not None
    try:
        gone_at = time.monotonic()  # the broker starts going away now
        assert stop_kafka(local_stack), "the broker was not running"
        assert not port_open(local_stack.kafka_port)
        try:
            code = worker.process.wait(timeout_s + 30)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"worker still running {timeout_s + 30:.0f} s after the broker "
                                 f"went away:\n{worker.log_tail()}") from exc
        waited = time.monotonic() - gone_at
    finally:
        start_kafka(local_stack)
    log = worker.log_path.read_text(errors="replace")
    print(f"worker exited with {code} {waited:.1f} s after the broker stopped")
    assert code == 3, worker.log_tail()
    assert "Kafka unreachable" in log, worker.log_tail()
    assert waited >= timeout_s - 5, f"exited after {waited:.1f} s, before the timeout"


def test_broker_restart_mid_stream(
    local_stack: StackSettings, settings: Settings, start_worker: StartWorker, workload: Workload,
    expected: OfflineResult, fault_seed: int,
) -> None:
    if stack_status(local_stack).kafka_pid is None:
        pytest.fail("Kafka was not started by relscore stack: cannot restart it" + OWN_STACK)
    rng = random.Random(f"{fault_seed}:broker")
    worker = start_worker(settings, session_timeout_s=SESSION_TIMEOUT_S)
    restart_after = rng.choice(heavy_phases(workload))
    facts: dict[str, Any] = {}

    def inject(phase: Phase, index: int) -> None:
        if index != restart_after:
            return
        time.sleep(rng.uniform(0.1, 1.0))
        facts["lag_at_restart"] = input_lag(settings)
        facts["broker_pid_before"] = stack_status(local_stack).kafka_pid
        started = time.monotonic()
        restart = threading.Thread(target=restart_kafka, args=(local_stack,), daemon=True)
        restart.start()
        wait_until(lambda: not port_open(local_stack.kafka_port), 60,
                   "the broker's port never closed")
        facts["port_closed_after_s"] = round(time.monotonic() - started, 1)
        restart.join(180)
        assert not restart.is_alive(), "restart_kafka did not return"
        facts["broker_back_after_s"] = round(time.monotonic() - started, 1)
        facts["broker_pid_after"] = stack_status(local_stack).kafka_pid

    feed(workload, settings, after_send=inject, timeout=240)
    print(f"seed {fault_seed}: broker restart after phase {restart_after}: {facts}")
    assert facts["broker_pid_before"] != facts["broker_pid_after"], facts
    assert port_open(local_stack.kafka_port)
    assert worker.process is not None and worker.process.poll() is None, (
        "the worker did not ride out the broker restart:\n" + worker.log_tail())
    report = check(workload, settings, DEFAULT_CONFIG, expected=expected)
    verdict(report, allow_redelivered=True, seed=fault_seed)


def test_kill_9_one_of_two_workers_three_times_loses_nothing(
    settings: Settings, start_worker: StartWorker, workload: Workload,
    expected: OfflineResult, fault_seed: int,
) -> None:
    rng = random.Random(f"{fault_seed}:kill")
    overrides = two_workers(settings)
    workers = {name: start_worker(settings, name=name, **overrides[name]) for name in "ab"}
    kill_after = sorted(rng.sample(range(1, len(workload.phases)), 3))
    kills: list[dict[str, Any]] = []

    def inject(phase: Phase, index: int) -> None:
        if index not in kill_after:
            return
        name = rng.choice("ab")
        delay = rng.uniform(0.1, 1.5)
        time.sleep(delay)
        victim = workers[name]
        generation = latest_generation(list(workers.values()), settings.worker.app_id)
        lag = input_lag(settings)
        victim.kill()
        assert victim.process is not None
        kills.append({"phase": index, "kind": phase.kind, "worker": name,
                      "delay_s": round(delay, 2), "lag_at_kill": lag,
                      "exit": victim.process.returncode, "generation_before": generation})
        workers[name] = start_worker(settings, name=name, **overrides[name])
        kills[-1]["generation_after"] = latest_generation([workers[name]], settings.worker.app_id)

    feed(workload, settings, after_send=inject, timeout=240)
    print(f"seed {fault_seed}: kills {kills}")
    assert len(kills) == 3
    assert all(kill["exit"] == -signal.SIGKILL for kill in kills), kills
    assert any(kill["lag_at_kill"] > 0 for kill in kills), f"no kill hit work in flight: {kills}"
    assert all(kill["generation_after"] > kill["generation_before"] for kill in kills), kills
    report = check(workload, settings, DEFAULT_CONFIG, expected=expected)
    verdict(report, allow_redelivered=True, seed=fault_seed)


def test_rebalance_worker_joins_leaves_and_rejoins(
    settings: Settings, start_worker: StartWorker, workload: Workload,
    expected: OfflineResult, fault_seed: int,
) -> None:
    rng = random.Random(f"{fault_seed}:rebalance")
    overrides = two_workers(settings)
    first = start_worker(settings, name="a", **overrides["a"])
    points = sorted(rng.sample(range(len(workload.phases) - 1), 3))
    plan = dict(zip(points, ("join", "leave", "rejoin"), strict=True))
    second: list[WorkerProcess] = []
    moves: list[dict[str, Any]] = []

    def inject(phase: Phase, index: int) -> None:
        action = plan.get(index)
        if action is None:
            return
        time.sleep(rng.uniform(0.0, 0.5))
        everyone = [first, *second]
        before = latest_generation(everyone, settings.worker.app_id)
        move: dict[str, Any] = {"phase": index, "action": action, "generation_before": before}
        if action == "leave":
            move["exit"] = second[-1].stop()
        else:
            second.append(start_worker(settings, name="b", **overrides["b"]))
            everyone.append(second[-1])
        move["seconds_to_new_generation"] = round(wait_until(
            lambda: latest_generation(everyone, settings.worker.app_id) > before, 90,
            f"{action}: the group never moved to a new generation"), 1)
        move["generation_after"] = latest_generation(everyone, settings.worker.app_id)
        move["members"] = group_members(settings)
        moves.append(move)

    feed(workload, settings, after_send=inject, timeout=240)
    print(f"seed {fault_seed}: rebalances {moves}")
    assert [move["action"] for move in moves] == ["join", "leave", "rejoin"]
    assert moves[1]["exit"] == 0, "the leaving worker did not stop cleanly"
    assert [move["members"] for move in moves] == [2, 1, 2], moves
    # The first worker went through every rebalance without a restart.
    assert first.process is not None and first.process.poll() is None
    assert len(set(generations(first, settings.worker.app_id))) >= 4
    report = check(workload, settings, DEFAULT_CONFIG, expected=expected)
    verdict(report, allow_redelivered=True, seed=fault_seed)


def test_worker_paused_past_the_session_timeout_changes_nothing_when_it_wakes(
    settings: Settings, start_worker: StartWorker, workload: Workload,
    expected: OfflineResult, fault_seed: int,
) -> None:
    rng = random.Random(f"{fault_seed}:pause")
    overrides = two_workers(settings)
    active = start_worker(settings, name="a", **overrides["a"])
    paused = start_worker(settings, name="b", **overrides["b"])
    pause_after = rng.choice(heavy_phases(workload))
    facts: dict[str, Any] = {}

    def inject(phase: Phase, index: int) -> None:
        if index != pause_after:
            return
        time.sleep(rng.uniform(0.1, 1.0))
        before = latest_generation([active, paused], settings.worker.app_id)
        facts["lag_at_pause"] = input_lag(settings)
        signal_worker(paused, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            wait_until(lambda: process_state(paused) == "T", 10, "SIGSTOP did not stop the worker")
            facts["state_while_paused"] = process_state(paused)
            # The group notices after the session timeout: the active worker rejoins alone.
            facts["seconds_to_takeover"] = round(wait_until(
                lambda: latest_generation([active], settings.worker.app_id) > before
                and group_members(settings) == 1,
                SESSION_TIMEOUT_S + 60, "the paused worker was never removed from the group"), 1)
            facts["generation_without_b"] = latest_generation([active], settings.worker.app_id)
            wait_caught_up(settings, timeout=120)  # the active worker did the paused one's share
            time.sleep(max(0.0, SESSION_TIMEOUT_S + 5 - (time.monotonic() - stopped_at)))
            facts["paused_s"] = round(time.monotonic() - stopped_at, 1)
        finally:
            signal_worker(paused, signal.SIGCONT)
        # Awake, it finds itself out of the group and joins again: one more generation.
        wait_until(lambda: latest_generation([active, paused], settings.worker.app_id)
                   > facts["generation_without_b"], 90, "the woken worker never rejoined")
        facts["members_after_wake"] = group_members(settings)

    feed(workload, settings, after_send=inject, timeout=240)
    print(f"seed {fault_seed}: pause after phase {pause_after}: {facts}")
    assert facts["state_while_paused"] == "T", facts
    assert facts["paused_s"] > SESSION_TIMEOUT_S, facts
    assert facts["members_after_wake"] == 2, facts
    assert paused.process is not None and paused.process.poll() is None, "the woken worker died"
    report = check(workload, settings, DEFAULT_CONFIG, expected=expected)
    verdict(report, allow_redelivered=True, seed=fault_seed)


def test_redis_outage_mid_stream_scoring_unaffected_read_model_converges(
    local_stack: StackSettings, settings: Settings, start_worker: StartWorker, workload: Workload,
    expected: OfflineResult, fault_seed: int,
) -> None:
    if stack_status(local_stack).redis_pid is None:
        pytest.fail("Redis was not started by relscore stack: cannot stop it" + OWN_STACK)
    worker = start_worker(settings)
    down_after, up_after = 1, len(workload.phases) - 2
    facts: dict[str, Any] = {}

    def inject(phase: Phase, index: int) -> None:
        if index == down_after:
            time.sleep(0.3)
            facts["stopped"] = stop_redis(local_stack)
            facts["port_open_while_down"] = port_open(local_stack.redis_port)
        elif index == up_after:
            wait_caught_up(settings, timeout=180)  # scoring went on without Redis
            facts["redis_errors_seen"] = metric(worker, "relscore_redis_errors_total")
            facts["pending_while_down"] = metric(worker, "relscore_redis_pending_customers")
            start_redis(local_stack)
            facts["port_open_after"] = port_open(local_stack.redis_port)

    try:
        feed(workload, settings, after_send=inject, timeout=240)
    finally:
        start_redis(local_stack)  # whatever happened, later tests need Redis
    print(f"seed {fault_seed}: redis outage between phases {down_after} and {up_after}: {facts}")
    assert facts["stopped"] and not facts["port_open_while_down"], facts
    assert facts["redis_errors_seen"] > 0, "the projector never noticed Redis was down"
    assert facts["pending_while_down"] > 0, facts
    assert facts["port_open_after"]
    report = check(workload, settings, DEFAULT_CONFIG, expected=expected, redis=True,
                   redis_timeout=90)
    verdict(report, allow_redelivered=True, seed=fault_seed)


def snapshot(worker: WorkerProcess, customers: list[str]) -> dict[str, Any]:
    """``GET /customers/{id}`` for every customer."""
    answers: dict[str, Any] = {}
    for customer in customers:
        url = f"{worker.url}/customers/{urllib.parse.quote(customer, safe='')}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answers[customer] = orjson.loads(response.read())
    return answers


LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def log_seconds_between(log: Path, first: str, last: str) -> float | None:
    """Seconds between the first log line containing ``first`` and the next with ``last``."""
    from datetime import datetime

    start = None
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_TIME.match(line)
        if match is None:
            continue
        moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if start is None and first in line:
            start = moment
        elif start is not None and last in line:
            return (moment - start).total_seconds()
    return None


def test_cold_recovery_rebuilds_the_same_state_from_the_changelog(
    settings: Settings, start_worker: StartWorker, workload: Workload,
    expected: OfflineResult, fault_seed: int,
) -> None:
    first = start_worker(settings, name="first")
    feed(workload, settings)
    # No fault yet: the baseline must match exactly, without a single redelivered alert.
    verdict(check(workload, settings, DEFAULT_CONFIG, expected=expected),
            allow_redelivered=False, seed=fault_seed)
    customers = sorted(expected.scores)
    before = snapshot(first, customers)
    assert first.stop() == 0
    data_dir = Path(first.settings.worker.data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    assert not data_dir.exists()

    started = time.monotonic()
    second = start_worker(settings, name="second",
                          data_dir=str(data_dir.with_name(data_dir.name + "-cold")))
    ready_s = time.monotonic() - started
    after = snapshot(second, customers)
    recovery_s = log_seconds_between(second.log_path, "[^---Recovery]: Starting",
                                     "Recovery complete")
    print(f"cold recovery of {len(customers)} customers: worker ready {ready_s:.1f} s after "
          f"start, table recovery {recovery_s} s (log: Recovery Starting -> Recovery complete)")
    differ = [c for c in customers if before[c] != after[c]]
    assert not differ, (f"{len(differ)} customers differ after recovery, e.g. {differ[0]}: "
                        f"{before[differ[0]]} != {after[differ[0]]}")
