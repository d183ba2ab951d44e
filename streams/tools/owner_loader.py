"""Writing owners to the compacted ``relationship-owners`` topic (kafka-python).

Each owner is one record keyed by the customer id, so the topic keeps each customer's latest
owner and a consumer that reads it from the start knows every owner.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.kafka_clients import KafkaSetupError, kafka_client_config
from streams.notify.owners import Owner
from streams.runtime.topic_layout import create_missing_topics, owners_topic
from streams.settings import Settings


def load_owners(settings: Settings, owners: Iterable[Owner]) -> int:
    """Send ``owners`` to ``settings.topics.owners`` (created compacted when missing) and wait
    for the broker's acknowledgements; returns how many were sent. Raises KafkaSetupError
    when Kafka cannot be reached or refuses the records."""
    create_missing_topics(settings, [owners_topic(settings)])
    producer = KafkaProducer(acks="all", linger_ms=5, **kafka_client_config(settings.kafka))
    sent = 0
    try:
        futures = [producer.send(settings.topics.owners, key=owner.customer_id.encode(),
                                 value=owner.to_json()) for owner in owners]
        producer.flush()
        for future in futures:
            future.get(timeout=30)
            sent += 1
    except KafkaError as exc:
        raise KafkaSetupError(
            f"Kafka at {settings.kafka.bootstrap} did not take the owners after {sent} "
            f"({exc.__class__.__name__}); check the broker and that this user may write "
            f"{settings.topics.owners}, then load the file again (loading twice is harmless)"
        ) from exc
    finally:
        producer.close()
    return sent
