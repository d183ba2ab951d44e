"""Topic set-up and the start-up co-partitioning check.

The state table is updated by the events of one customer, so every topic the scoring agent
reads (the three inputs and the re-key topic) and the table's changelog must have the same
partition count. Missing topics are created with ``RELSCORE_PARTITIONS``; existing ones that
disagree stop the worker with a message that says which and what to do.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.kafka_clients import KafkaSetupError, check_kafka_login, kafka_client_config
from streams.settings import Settings

log = logging.getLogger(__name__)


class TopicLayoutError(KafkaSetupError):
    """The topics cannot be co-partitioned as they are; the message says how to fix it."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str]


def changelog_topic(settings: Settings) -> str:
    """The state table's changelog topic (Faust's name for it).

    >>> changelog_topic(Settings())
    'relscore-customer-state-changelog'
    """
    return f"{settings.worker.app_id}-customer-state-changelog"


def required_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic relscore reads or writes, with its partitions and config."""
    n = settings.topics.partitions
    plain: dict[str, str] = {}
    compacted = {"cleanup.policy": "compact"}
    return [
        *(TopicSpec(name, n, plain) for name in settings.topics.inputs),
        TopicSpec(settings.topics.rekey, n, plain),
        TopicSpec(changelog_topic(settings), n, compacted),
        TopicSpec(settings.topics.scores, n, compacted),
        TopicSpec(settings.topics.alerts, n, plain),
        TopicSpec(settings.topics.dlq, n, plain),
        TopicSpec(settings.topics.owners, n, compacted),
        TopicSpec(settings.topics.notify_dlq, n, plain),
        TopicSpec(settings.topics.alert_actions, n, compacted),
    ]


def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create missing topics and check partition counts; returns name -> partitions."""
    specs = required_topics(settings)
    counts = create_missing_topics(settings, specs)
    check_copartitioning(settings, counts)
    return counts


def owners_topic(settings: Settings) -> TopicSpec:
    """The compacted customer -> owner topic (``relscore owners load``)."""
    owners = settings.topics.owners
    return next(spec for spec in required_topics(settings) if spec.name == owners)


def create_missing_topics(settings: Settings, specs: list[TopicSpec]) -> dict[str, int]:
    """Create those of ``specs`` the broker lacks; returns name -> partitions of all of them."""
    check_kafka_login(settings.kafka, settings.worker.app_id)
    try:
        admin = KafkaAdminClient(
            client_id=f"{settings.worker.app_id}-setup", request_timeout_ms=30000,
            **kafka_client_config(settings.kafka),
        )
    except KafkaError as exc:
        raise TopicLayoutError(
            f"cannot reach Kafka at {settings.kafka.bootstrap} ({exc.__class__.__name__}); "
            "start it with `relscore stack up` or set RELSCORE_KAFKA_BOOTSTRAP"
        ) from exc
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            # Another worker may create them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=settings.topics.replication_factor,
                            topic_configs=dict(spec.config),
                        )
                        for spec in missing
                    ]
                )
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
        return _partition_counts(admin, [spec.name for spec in specs])
    finally:
        admin.close()


def _partition_counts(admin: KafkaAdminClient, names: list[str],
                      timeout_s: float = 30.0) -> dict[str, int]:
    """Partition counts of ``names``, waiting for topics just created to show in metadata."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts: dict[str, int] = {}
        for topic in admin.describe_topics(names):
            if topic.get("error_code", 0) == 0 and topic["partitions"]:
                counts[topic.get("name") or topic["topic"]] = len(topic["partitions"])
        missing = [name for name in names if name not in counts]
        if not missing or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def check_copartitioning(settings: Settings, counts: Mapping[str, int]) -> None:
    """Refuse to start when the scoring agent's topics cannot share one partitioning."""
    scored = [*settings.topics.inputs, settings.topics.rekey, changelog_topic(settings)]
    found = {name: counts.get(name, 0) for name in scored}
    if len(set(found.values())) == 1 and settings.topics.partitions in found.values():
        return
    listing = ", ".join(f"{name}={count}" for name, count in found.items())
    unseen = [name for name, count in found.items() if count == 0]
    if unseen:
        raise TopicLayoutError(
            f"topics {', '.join(unseen)} do not show in the broker's metadata after 30 s; "
            "check that the broker is healthy and that this user may describe them"
        )
    agreed = {found[name] for name in settings.topics.inputs}
    if len(agreed) == 1 and next(iter(agreed)) != settings.topics.partitions:
        hint = (
            f"the input topics agree on {next(iter(agreed))} partitions: set "
            f"RELSCORE_PARTITIONS={next(iter(agreed))} (and recreate {settings.topics.rekey} and "
            f"{changelog_topic(settings)} if they exist with another count)"
        )
    else:
        hint = (
            "every input topic must have the same partition count, keyed by customer_id, so "
            "that one customer's events meet one table partition; recreate the odd topics with "
            f"RELSCORE_PARTITIONS={settings.topics.partitions} partitions, or mirror them into "
            "such topics"
        )
    raise TopicLayoutError(f"partition counts do not match ({listing}): {hint}")
