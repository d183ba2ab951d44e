"""Fixtures for tests against the real stack: Kafka (KRaft) and Redis from `relscore stack`.

Registered for the whole suite by ``pytest_plugins`` in ``tests/conftest.py``. The stack is
started once per session (reused when it already runs). Every test gets its own topics,
consumer group and web port, so tests never see each other's records.
"""

from __future__ import annotations

import itertools
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.kafka_clients import kafka_client_config
from streams.laptop.stack import stack_down, stack_status, stack_up
from streams.laptop.stack_settings import StackSettings
from streams.laptop.worker_process import NotifyProcess, WorkerProcess
from streams.runtime.topic_layout import ensure_topics
from streams.settings import Settings
from streams.tools.event_file_sender import topic_names

ROOT = Path(__file__).resolve().parents[2]


def _stack_settings() -> StackSettings:
    """Where the test stack runs: RELSCORE_RUN_DIR and the port variables when given, so
    parallel test runs can use separate stacks; by default .run/test-stack on the default
    ports."""
    env = dict(os.environ)
    env.setdefault("RELSCORE_RUN_DIR", str(ROOT / ".run" / "test-stack"))
    return StackSettings.from_env(env)


STACK = _stack_settings()
# How the clients reach that stack (RELSCORE_KAFKA_BOOTSTRAP, RELSCORE_REDIS_URL, ...).
BASE = Settings.from_env()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_stack() -> Iterator[StackSettings]:
    """The running local stack (started for the session unless one already answers)."""
    before = stack_status(STACK)
    started = not (before.kafka_up and before.redis_up)
    stack_up(STACK)
    yield STACK
    if started:
        stack_down(STACK, wipe=True)


@pytest.fixture(scope="session")
def stack(local_stack: StackSettings) -> Settings:
    """Settings that reach the running local stack."""
    return BASE


_counter = itertools.count()


@pytest.fixture
def settings(stack: Settings, tmp_path: Path) -> Settings:
    """Settings with topics, group and port of this test alone (topics created)."""
    tag = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"
    isolated = stack.namespaced(
        tag,
        web_port=free_port(),
        web_host="127.0.0.1",
        data_dir=str(tmp_path / "worker-data"),
        redis_prefix=f"relscore-test:{tag}:",
    )
    ensure_topics(isolated)
    return isolated


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start ``relscore worker`` processes; all are stopped at teardown."""
    workers: list[WorkerProcess] = []

    def start(settings: Settings, name: str = "worker", **overrides: Any) -> WorkerProcess:
        worker_settings = settings.override(**overrides)
        worker = WorkerProcess(worker_settings, tmp_path / f"{name}-{len(workers)}.log")
        workers.append(worker)
        worker.start().wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def start_notify(tmp_path: Path) -> Iterator[Callable[..., NotifyProcess]]:
    """Start ``relscore notify`` processes (on a free port each); all are stopped at
    teardown. ``env`` holds the variables a routes file names (URLs, secrets)."""
    processes: list[NotifyProcess] = []

    def start(settings: Settings, env: dict[str, str] | None = None,
              **overrides: Any) -> NotifyProcess:
        overrides.setdefault("notify_port", free_port())
        process = NotifyProcess(settings.override(**overrides),
                                tmp_path / f"notify-{len(processes)}.log", env)
        processes.append(process)
        process.start().wait_ready()
        return process

    yield start
    for process in processes:
        process.stop()


class EventProducer:
    """An independent kafka-python producer sending events keyed by customer id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = topic_names(settings)
        self.producer = KafkaProducer(**kafka_client_config(settings.kafka))

    def events(self, events: Iterable[dict[str, Any]], partition: int | None = None) -> int:
        """Send ``events`` keyed by customer id; on ``partition`` instead of the one Kafka's
        default partitioner picks, when given (as another client's partitioner would)."""
        count = 0
        for event in events:
            body = {k: v for k, v in event.items() if k != "topic"}
            self.producer.send(self.names[event["topic"]], key=event["customer_id"].encode(),
                               value=orjson.dumps(body), partition=partition)
            count += 1
        self.producer.flush()
        return count

    def raw(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        self.producer.send(topic, key=key, value=value)
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


@pytest.fixture
def produce(settings: Settings) -> Iterator[EventProducer]:
    producer = EventProducer(settings)
    yield producer
    producer.close()
