"""Batch scoring without Kafka: state rows come back separately from outputs, and the
event-time clocks wait for topics that still have records to read."""

from __future__ import annotations

import orjson

from scorers.config import DAY_MS, DEFAULT_CONFIG
from scorers.schedule import DueSchedule
from streams.laptop.scenario import EPOCH_MS, healthy_history
from streams.runtime.band_gauge import BandCounts
from streams.runtime.batch_scorer import BatchScorer, InputProgress
from streams.runtime.processor import Processor, Record
from streams.settings import Settings

SETTINGS = Settings()
TOPICS = {"purchases": SETTINGS.topics.purchases, "interactions": SETTINGS.topics.interactions,
          "support-tickets": SETTINGS.topics.tickets}


# On partition 0, where Kafka's default partitioner puts it among 4 (records off their key's
# partition are re-keyed, not scored in place).
CUSTOMER = "c-4"


def records(events: list[dict[str, object]], partition: int = 0) -> list[Record]:
    offsets: dict[str, int] = {}
    out = []
    for event in events:
        topic = TOPICS[str(event["topic"])]
        body = {k: v for k, v in event.items() if k != "topic"}
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        out.append(Record(topic, partition, offset, str(event["customer_id"]).encode(),
                          orjson.dumps(body), timestamp_ms=EPOCH_MS + 400 * DAY_MS))
    return out


def scorer(progress: InputProgress | None = None) -> BatchScorer:
    return BatchScorer(Processor(SETTINGS, DEFAULT_CONFIG), DueSchedule(60_000), BandCounts(),
                       progress)


def test_rows_are_returned_not_written_and_follow_the_outputs() -> None:
    table: dict[bytes, bytes] = {}
    batch = scorer()
    result = batch.process(records(healthy_history(CUSTOMER, days=30)), table.get)
    assert table == {}, "the batch must not write the table itself"
    assert set(result.updates) == {CUSTOMER.encode()}
    assert any(emit.topic == SETTINGS.topics.scores for emit in result.emits)
    # Applying the same records again on the written rows changes nothing (duplicates).
    table.update(result.updates)
    again = batch.process(records(healthy_history(CUSTOMER, days=30)), table.get)
    assert again.updates == {} and again.emits == []


def test_clock_waits_for_a_topic_with_records_left_to_read() -> None:
    progress = InputProgress(tuple(TOPICS.values()))
    batch = scorer(progress)
    history = healthy_history(CUSTOMER, days=120)
    purchases = [r for r in records(history) if r.topic == SETTINGS.topics.purchases]
    touches = [r for r in records(history) if r.topic == SETTINGS.topics.interactions]
    ends = {(SETTINGS.topics.purchases, 0): len(purchases),
            (SETTINGS.topics.interactions, 0): len(touches),
            (SETTINGS.topics.tickets, 0): 0, (SETTINGS.topics.rekey, 0): 0}
    progress.reset({tp: 0 for tp in ends})
    # All purchases are read first; the interactions are still waiting in their topic.
    first = batch.process(purchases, {}.get, ends)
    clock = batch.schedule.clocks[0]
    assert clock < min(r_ts(r) for r in touches), "the clock ran ahead of unread interactions"
    decays = [e for e in first.emits if e.topic == SETTINGS.topics.scores
              and orjson.loads(e.value)["reason"] == "decay"]
    assert decays == []
    # Once everything is read, the clock follows the latest event.
    batch.process(touches, first.updates.get, ends)
    assert batch.schedule.clocks[0] == max(r_ts(r) for r in purchases + touches) - 60_000


def r_ts(record: Record) -> int:
    return int(orjson.loads(record.value or b"{}")["ts"])
