"""Helpers of the fault tests: evidence that a fault really happened, and the verdict."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Callable

from kafka.admin import KafkaAdminClient

from streams.kafka_clients import kafka_client_config
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings
from tests.support.fault_harness import Report


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               poll: float = 0.2) -> float:
    """Wait for ``condition``; returns the seconds it took, AssertionError after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(poll)
    return time.monotonic() - started


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def generations(worker: WorkerProcess, group: str) -> list[int]:
    """Consumer-group generations ``worker`` joined, from its log (aiokafka's join lines)."""
    try:
        text = worker.log_path.read_text(errors="replace")
    except OSError:
        return []
    pattern = re.compile(rf"Joined group '{re.escape(group)}' \(generation (\d+)\)")
    return [int(number) for number in pattern.findall(text)]


def latest_generation(workers: list[WorkerProcess], group: str) -> int:
    return max((g for worker in workers for g in generations(worker, group)), default=0)


def group_members(settings: Settings) -> int:
    """How many members the worker group (``settings.worker.app_id``) has right now."""
    admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
    try:
        group = admin.describe_groups([settings.worker.app_id])[settings.worker.app_id]
        return len(group["members"])
    finally:
        admin.close()


def process_state(worker: WorkerProcess) -> str:
    """The worker's state letter from /proc (R, S, T for stopped, Z), or '' when gone."""
    assert worker.process is not None
    try:
        stat = open(f"/proc/{worker.process.pid}/stat").read()  # noqa: SIM115
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[0]


def signal_worker(worker: WorkerProcess, sig: signal.Signals) -> None:
    assert worker.process is not None and worker.process.poll() is None
    os.killpg(worker.process.pid, sig)


def verdict(report: Report, *, allow_redelivered: bool, seed: int) -> None:
    """Print the report; fail with its problems (and the seed to replay them)."""
    print(f"seed {seed}: {report.summary()}")
    problems = report.problems(allow_redelivered=allow_redelivered)
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)
