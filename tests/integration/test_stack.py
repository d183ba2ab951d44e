"""The local stack (streams.laptop.stack) against real processes, on ports offset from the defaults.

Needs Java >= 17, plus Maven on the first run (the Kafka jars are cached per user, see
streams.laptop.stack.kafka_lib_dir) and redis-server (installed with apt-get when running as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kafka.admin import KafkaAdminClient, NewTopic

from streams.laptop.stack import stack_down, stack_status, stack_up
from streams.laptop.stack_settings import StackSettings

pytestmark = pytest.mark.integration

KAFKA_PORT, CONTROLLER_PORT, REDIS_PORT = 29092, 29093, 26379
PORTS = (KAFKA_PORT, CONTROLLER_PORT, REDIS_PORT)
TOPIC = "stack-test"


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    if shutil.which("java") is None:
        pytest.fail("java is not installed (apt-get install -y openjdk-17-jre-headless maven)")
    if shutil.which("redis-server") is None and os.geteuid() != 0:
        pytest.fail("redis-server is not installed (sudo apt-get install -y redis-server)")
    busy = [port for port in PORTS if _port_open(port)]
    if busy:
        pytest.fail(f"ports {busy} are already in use; the test needs {PORTS} free")
    run_dir = tmp_path_factory.mktemp("stack")
    test_settings = StackSettings(
        run_dir=str(run_dir),
        kafka_port=KAFKA_PORT,
        kafka_controller_port=CONTROLLER_PORT,
        redis_port=REDIS_PORT,
    )
    try:
        yield test_settings
    finally:
        stack_down(test_settings, wipe=True)


def _topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def test_up_makes_both_answer(settings: StackSettings) -> None:
    status = stack_up(settings)

    assert status.kafka_up and status.redis_up
    assert status.kafka_bootstrap == f"localhost:{KAFKA_PORT}"
    assert status.redis_url == f"redis://localhost:{REDIS_PORT}/0"
    assert status.kafka_pid is not None and status.redis_pid is not None
    admin = KafkaAdminClient(bootstrap_servers=status.kafka_bootstrap)
    try:
        assert [b["broker_id"] for b in admin.describe_cluster()["brokers"]] == [1]
    finally:
        admin.close()
    client = redis.Redis.from_url(status.redis_url)
    try:
        assert client.ping()
    finally:
        client.close()


def test_second_up_is_idempotent(settings: StackSettings) -> None:
    first = stack_up(settings)
    started = time.monotonic()
    second = stack_up(settings)

    assert time.monotonic() - started < 15
    assert (second.kafka_pid, second.redis_pid) == (first.kafka_pid, first.redis_pid)
    assert stack_status(settings) == second


def test_down_stops_both_and_up_keeps_kafka_data(settings: StackSettings) -> None:
    status = stack_up(settings)
    admin = KafkaAdminClient(bootstrap_servers=status.kafka_bootstrap)
    try:
        if TOPIC not in admin.list_topics():
            admin.create_topics([NewTopic(TOPIC, num_partitions=4, replication_factor=1)])
    finally:
        admin.close()

    stack_down(settings)

    assert [port for port in PORTS if _port_open(port)] == []
    down = stack_status(settings)
    assert not down.kafka_up and not down.redis_up
    assert down.kafka_pid is None and down.redis_pid is None
    run = Path(settings.run_path)
    assert not (run / "kafka" / "kafka.pid").exists()
    assert not (run / "redis" / "redis.pid").exists()
    assert (run / "kafka" / "data" / "meta.properties").is_file()

    again = stack_up(settings)
    assert again.kafka_up and again.redis_up
    assert TOPIC in _topics(again.kafka_bootstrap)
