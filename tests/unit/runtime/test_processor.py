"""The per-record decisions of the worker, without Kafka: reject, re-key, duplicate, score."""

from __future__ import annotations

import base64
import logging
import time
import unicodedata

import orjson
import pytest

from scorers.config import DEFAULT_CONFIG
from streams.laptop.scenario import scripted_population
from streams.runtime import metrics
from streams.runtime.dlq import RAW_LIMIT_BYTES, dlq_message
from streams.runtime.partitioning import partition_for
from streams.runtime.processor import KIND_HEADER, Decoded, Emit, Processor, Record
from streams.settings import Settings
from streams.tools.offline_scoring import score_lines

SETTINGS = Settings()
NOW = 1_790_000_000_000


def record(value: bytes | None, key: bytes | None = b"c-1", topic: str = "purchases",
           offset: int = 7, headers: tuple[tuple[str, bytes], ...] = (),
           partition: int | None = None) -> Record:
    """A record on its key's partition (Kafka's default partitioner) unless told otherwise."""
    if partition is None:
        partition = partition_for(key, SETTINGS.topics.partitions) if key else 2
    return Record(topic=topic, partition=partition, offset=offset, key=key, value=value,
                  timestamp_ms=NOW, headers=headers)


def purchase(**fields: object) -> bytes:
    body = {"event_id": "e1", "customer_id": "c-1", "ts": NOW - 1000, "order_id": "o1",
            "amount": 10.0, "product_id": "p1", **fields}
    return orjson.dumps(body)


def test_valid_event_keyed_by_its_customer_is_scored_in_place() -> None:
    processor = Processor(SETTINGS, DEFAULT_CONFIG)
    decoded = processor.decode(record(purchase()))
    assert isinstance(decoded, Decoded)
    assert decoded.table_key == b"c-1"
    step = processor.score(decoded, None, record(purchase()))
    assert step.state is not None
    topics = [emit.topic for emit in step.emits]
    assert topics == [SETTINGS.topics.scores]
    message = orjson.loads(step.emits[0].value)
    assert message["customer_id"] == "c-1" and message["reason"] == "event"


def test_rejects_carry_reason_coordinates_and_raw_bytes() -> None:
    processor = Processor(SETTINGS, DEFAULT_CONFIG)
    out = processor.decode(record(b"\xff\xfe not utf8"), now_ms=NOW)
    assert isinstance(out, Emit) and out.topic == SETTINGS.topics.dlq
    message = orjson.loads(out.value)
    assert message["reason"] == "not_json"
    assert (message["source_topic"], message["partition"], message["offset"]) == (
        "purchases", partition_for(b"c-1", SETTINGS.topics.partitions), 7)
    assert message["raw_encoding"] == "base64"
    assert base64.b64decode(message["raw"]) == b"\xff\xfe not utf8"


def test_tombstone_and_future_events_go_to_the_dlq() -> None:
    processor = Processor(SETTINGS, DEFAULT_CONFIG)
    tombstone = processor.decode(record(None))
    assert isinstance(tombstone, Emit) and orjson.loads(tombstone.value)["reason"] == "not_json"
    future = processor.decode(record(purchase(ts=NOW + 3_600_000)))
    assert isinstance(future, Emit)
    assert orjson.loads(future.value)["reason"] == "future_timestamp"


def test_event_keyed_otherwise_is_rekeyed_to_its_nfc_customer_id() -> None:
    processor = Processor(SETTINGS, DEFAULT_CONFIG)
    nfd = unicodedata.normalize("NFD", "José")
    out = processor.decode(record(purchase(customer_id=nfd), key=nfd.encode()))
    assert isinstance(out, Emit) and out.topic == SETTINGS.topics.rekey
    assert out.key == unicodedata.normalize("NFC", "José").encode()
    assert (KIND_HEADER, b"purchase") in out.headers
    # Read back from the re-key topic, it is scored under the NFC id with its source topic.
    again = processor.decode(record(out.value, key=out.key, topic=SETTINGS.topics.rekey,
                                    headers=out.headers))
    assert isinstance(again, Decoded) and again.event.customer_id == "José"


def test_event_off_its_keys_partition_is_rekeyed_and_warned_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """A producer with another partitioner (librdkafka's consistent_random) puts a customer's
    records elsewhere than its state's changelog partition: one hop through the re-key topic
    brings them together, so that a rebalance moves a customer's records and rows as one."""
    processor = Processor(SETTINGS, DEFAULT_CONFIG)
    home = partition_for(b"c-1", SETTINGS.topics.partitions)
    elsewhere = (home + 1) % SETTINGS.topics.partitions
    rekeyed = metrics.child(metrics.EVENTS, "purchases", "rekeyed")
    before = rekeyed._value.get()
    with caplog.at_level(logging.WARNING, logger="streams.runtime.processor"):
        outs = [processor.decode(record(purchase(event_id=f"e{i}"), partition=elsewhere,
                                        offset=i)) for i in range(3)]
    assert all(isinstance(out, Emit) and out.topic == SETTINGS.topics.rekey
               and out.key == b"c-1" and out.partition is None for out in outs)
    assert rekeyed._value.get() - before == 3
    warnings = [r.getMessage() for r in caplog.records if "murmur2" in r.getMessage()]
    assert len(warnings) == 1 and f"purchases[{elsewhere}]@0" in warnings[0]
    assert "partitioner=murmur2_random" in warnings[0]
    # Read back from the re-key topic (on whatever partition the producer chose), it scores.
    emit = outs[0]
    assert isinstance(emit, Emit)
    again = processor.decode(record(emit.value, key=emit.key, topic=SETTINGS.topics.rekey,
                                    headers=emit.headers, partition=home))
    assert isinstance(again, Decoded)
    # On its own partition it is scored in place.
    assert isinstance(processor.decode(record(purchase(), partition=home)), Decoded)


def test_duplicate_event_changes_nothing() -> None:
    processor = Processor(SETTINGS, DEFAULT_CONFIG)
    rec = record(purchase())
    decoded = processor.decode(rec)
    assert isinstance(decoded, Decoded)
    first = processor.score(decoded, None, rec)
    again = processor.score(decoded, first.state, rec)
    assert again.state is None and again.emits == []


def test_dlq_message_truncates_huge_payloads() -> None:
    message = dlq_message(source_topic="t", partition=0, offset=1, error="too big",
                          reason="oversized", raw=b"a" * (RAW_LIMIT_BYTES + 10),
                          received_at_ms=NOW)
    assert message["raw_truncated"] is True and len(message["raw"]) == RAW_LIMIT_BYTES


def test_offline_scoring_reports_rejected_lines_and_keeps_going() -> None:
    healthy = scripted_population(loyal=1, churning=0, newcomers=0)[0]
    lines = [orjson.dumps(e) for e in healthy]
    lines.insert(3, b"{broken")
    lines.insert(5, orjson.dumps({"topic": "nope", **{k: v for k, v in healthy[0].items()
                                                     if k != "topic"}}))
    result = score_lines(lines, DEFAULT_CONFIG, reference_ms=None)
    assert [(r["line"], r["reason"]) for r in result.rejects] == [(4, "not_json"),
                                                                 (6, "unknown_topic")]
    assert result.events == len(healthy)
    assert result.scores["loyal-0"]["events_seen"] == len(healthy)


def feed_gauge(topic: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(
        "relscore_input_last_record_timestamp_seconds", {"topic": topic})


def test_the_feed_gauge_follows_the_newest_record_of_each_input_topic() -> None:
    settings = SETTINGS.namespaced(f"feeds-{time.time_ns()}")
    before = time.time()
    processor = Processor(settings, DEFAULT_CONFIG)
    # Every input topic shows from the start, so a feed that never flows is visible.
    for topic in settings.topics.inputs:
        started = feed_gauge(topic)
        assert started is not None and before - 1 <= started <= time.time() + 1
    later_ms = int(time.time() * 1000) + 60_000
    processor.decode(Record(topic=settings.topics.purchases, partition=0, offset=1, key=b"c-1",
                            value=purchase(), timestamp_ms=later_ms, headers=()))
    assert feed_gauge(settings.topics.purchases) == later_ms / 1000
    # An older record, a rejected one or a re-keyed one never moves it back.
    processor.decode(Record(topic=settings.topics.purchases, partition=0, offset=2, key=b"c-1",
                            value=b"not json", timestamp_ms=later_ms - 5_000, headers=()))
    assert feed_gauge(settings.topics.purchases) == later_ms / 1000
    processor.decode(Record(topic=settings.topics.rekey, partition=0, offset=3, key=b"c-1",
                            value=purchase(), timestamp_ms=later_ms + 9_000, headers=()))
    assert feed_gauge(settings.topics.rekey) is None
    assert feed_gauge(settings.topics.tickets) == started
