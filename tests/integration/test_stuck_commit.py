"""A stuck commit becomes visible (``relscore_commit_stalled_seconds``), on the real broker.

The worker acknowledges outputs before it commits. Here the score topic is deleted under it
(the broker creates no topic by itself), so its sends are retried, the agent waits for their
acknowledgements, reading goes on into its buffer and no offset moves: the gauge must climb
for the input partitions that wait, and fall back to 0 once the topic is back, with the
scores delivered.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka_clients import kafka_client_config
from streams.laptop.scenario import healthy_history
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings
from streams.tools.topic_reader import read_all, wait_caught_up
from tests.support.stack_fixtures import EventProducer

pytestmark = pytest.mark.integration

GAUGE = "relscore_commit_stalled_seconds"


def stalled(url: str) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(sample.labels["topic"], sample.labels["partition"]): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == GAUGE}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


@pytest.fixture
def admin(settings: Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(**kafka_client_config(settings.kafka))
    yield client
    client.close()


def recreate(admin: KafkaAdminClient, settings: Settings, topic: str) -> None:
    """Create ``topic`` again once its deletion has gone through."""
    deadline = time.monotonic() + 60
    while True:
        try:
            admin.create_topics([NewTopic(topic, settings.topics.partitions,
                                          settings.topics.replication_factor)])
            return
        except TopicAlreadyExistsError:  # the deletion is still under way
            assert time.monotonic() < deadline, f"{topic} was never deleted"
            time.sleep(0.5)


def test_a_commit_stuck_behind_undeliverable_outputs_shows_and_clears(
    settings: Settings, start_worker: Callable[..., WorkerProcess], produce: EventProducer,
    admin: KafkaAdminClient,
) -> None:
    worker = start_worker(settings, projector="off")
    first = [e for cid in ("stuck-1", "stuck-2", "stuck-3") for e in healthy_history(cid, 20)]
    produce.events(first)
    wait_caught_up(settings)
    purchases = settings.topics.purchases
    wait_for(lambda: any(topic == purchases for topic, _ in stalled(worker.url)), 30,
             "the gauge never showed the worker's input partitions")
    assert max(stalled(worker.url).values()) < 10, stalled(worker.url)

    admin.delete_topics([settings.topics.scores])
    try:
        later = [e for cid in ("stuck-4", "stuck-5", "stuck-6") for e in healthy_history(cid, 20)]
        produce.events(later)
        wait_for(lambda: max(stalled(worker.url).values()) >= 15, 60,
                 f"the gauge never showed the stuck commit: {stalled(worker.url)}")
        waiting = {tp for tp, seconds in stalled(worker.url).items() if seconds >= 15}
        assert all(topic in settings.topics.inputs for topic, _ in waiting), waiting
    finally:
        recreate(admin, settings, settings.topics.scores)

    wait_caught_up(settings)
    wait_for(lambda: max(stalled(worker.url).values()) == 0.0, 30,
             f"the gauge did not clear after delivery resumed: {stalled(worker.url)}")
    # The new topic holds the scores of the records that waited (and no older ones).
    rescored = {message["customer_id"] for message in read_all(settings, settings.topics.scores)}
    assert {"stuck-4", "stuck-5", "stuck-6"} <= rescored
