"""The rebalance-safe consumer's decision, on the worker's real Faust app with the fetch replaced.

What goes wrong without it is shown on the real stack by the rebalance fault test; here each
branch is pinned down: a fetch within one generation passes whole, a fetch across a generation
change loses its stream records (never its changelog records) and rewinds to committed offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from scorers.config import DEFAULT_CONFIG
from streams.runtime.app import create_app
from streams.runtime.consumer import FetchRoute, RebalanceSafeConsumer
from streams.runtime.fetch_batch import FetchBatch
from streams.settings import Settings

SETTINGS = Settings()
STREAM = TP(SETTINGS.topics.purchases, 1)
NEW_STREAM = TP(SETTINGS.topics.interactions, 3)


class Calls:
    def __init__(self) -> None:
        self.seeks = 0
        self.to_beginning: list[TP] = []


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    app = create_app(SETTINGS, DEFAULT_CONFIG)  # once: its metrics register process-wide
    yield app
    app.consumer._thread.thread_loop.close()  # never started, so never closed by Faust
    app.loop.close()


def consumer_with(app: Any, monkeypatch: pytest.MonkeyPatch, records: dict[Any, list[Any]], *,
                  rebalance_during_fetch: bool,
                  committed: dict[TP, int | None] | None = None) -> tuple[Any, Calls]:
    consumer = app.consumer
    assert isinstance(consumer, RebalanceSafeConsumer)
    changelog = TP(next(iter(app.tables.changelog_topics)), 1)
    records = {(changelog if tp == "changelog" else tp): batch for tp, batch in records.items()}
    calls = Calls()
    app.consumer_generation_id = 3

    async def fetch(self: Any, active: Any, timeout: float) -> dict[TP, list[Any]]:
        if rebalance_during_fetch:
            app.consumer_generation_id = 4
        return dict(records)

    async def perform_seek(self: Any) -> None:
        calls.seeks += 1
        for tp, offset in (committed or {}).items():
            self._read_offset[tp] = offset

    async def seek_to_beginning(*tps: TP) -> None:
        calls.to_beginning.extend(tps)

    monkeypatch.setattr(faust_aiokafka.Consumer, "_getmany", fetch)
    monkeypatch.setattr(RebalanceSafeConsumer, "perform_seek", perform_seek)
    monkeypatch.setattr(RebalanceSafeConsumer, "assignment",
                        lambda self: {STREAM, NEW_STREAM, changelog})
    monkeypatch.setattr(consumer._thread, "seek_to_beginning", seek_to_beginning)
    return consumer, calls


def fetch(consumer: Any) -> dict[TP, list[Any]]:
    result: dict[TP, list[Any]] = consumer.loop.run_until_complete(consumer._getmany(None, 1.0))
    return result


def test_a_fetch_within_one_generation_is_delivered_whole(
    app: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, calls = consumer_with(app, monkeypatch, {STREAM: [1, 2], "changelog": [3]},
                                    rebalance_during_fetch=False)
    assert {tp.topic: batch for tp, batch in fetch(consumer).items()} == {
        STREAM.topic: [1, 2], next(iter(consumer.app.tables.changelog_topics)): [3]}
    assert calls.seeks == 0


def test_stream_records_fetched_across_a_rebalance_are_dropped_and_reread_from_committed(
    app: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, calls = consumer_with(
        app, monkeypatch, {STREAM: [70, 71], NEW_STREAM: [0], "changelog": [5, 6]},
        rebalance_during_fetch=True, committed={STREAM: 70, NEW_STREAM: None},
    )
    delivered = fetch(consumer)
    assert [tp.topic for tp in delivered] == list(consumer.app.tables.changelog_topics)
    assert list(delivered.values()) == [[5, 6]]  # recovery's records are kept
    assert calls.seeks == 1
    # A partition the group never committed starts again from its beginning.
    assert calls.to_beginning == [NEW_STREAM]


def test_changelog_records_alone_need_no_rewind(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    consumer, calls = consumer_with(app, monkeypatch, {"changelog": [5, 6]},
                                    rebalance_during_fetch=True)
    assert list(fetch(consumer).values()) == [[5, 6]]
    assert calls.seeks == 0


def test_a_rewind_refused_by_another_rebalance_does_not_stop_the_fetch_loop(
    app: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, calls = consumer_with(app, monkeypatch, {STREAM: [70], "changelog": [5]},
                                    rebalance_during_fetch=True)

    async def refused(self: Any) -> None:
        calls.seeks += 1
        raise IllegalStateError("Partitions {...} are not assigned")

    monkeypatch.setattr(RebalanceSafeConsumer, "perform_seek", refused)
    assert list(fetch(consumer).values()) == [[5]]  # the stale stream record is still dropped
    assert calls.seeks == 1


def record(tp: TP, offset: int, timestamp: int) -> Any:
    from types import SimpleNamespace
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=b"c",
                           value=b"{}", timestamp=timestamp, timestamp_type=0, headers=(),
                           checksum=None, serialized_key_size=1, serialized_value_size=2)


def deliver(consumer: Any, monkeypatch: pytest.MonkeyPatch,
            records: dict[TP, list[Any]]) -> tuple[list[Any], list[Any]]:
    """Run one turn of the whole-fetch loop; the batches it delivers, the one-by-one messages."""
    batches: list[Any] = []
    messages: list[Any] = []

    async def to_agent(batch: Any) -> None:
        batches.append(batch)

    async def one_by_one(message: Any) -> None:
        messages.append(message)

    async def drained() -> None:
        return None

    route = FetchRoute(frozenset({STREAM.topic, NEW_STREAM.topic}), to_agent, drained)
    monkeypatch.setattr(consumer, "callback", one_by_one)
    monkeypatch.setattr(consumer, "highwater", lambda tp: 100)
    consumer.loop.run_until_complete(consumer._deliver(route, records, None))
    return batches, messages


def test_input_records_reach_the_agent_as_one_batch_in_faust_s_round_robin_order(
    app: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, _ = consumer_with(app, monkeypatch, {}, rebalance_during_fetch=False)
    changelog = TP(next(iter(app.tables.changelog_topics)), 1)
    consumer._read_offset.clear()
    consumer._read_offset[STREAM] = 11  # 10 was delivered before
    batches, messages = deliver(consumer, monkeypatch, {
        STREAM: [record(STREAM, 10, 5), record(STREAM, 11, 30), record(STREAM, 12, 40)],
        NEW_STREAM: [record(NEW_STREAM, 0, 50)],  # later than both: still second
        changelog: [record(changelog, 7, 1)],
    })
    assert len(batches) == 1
    batch = batches[0]
    # One record of each topic in turn, whatever their timestamps (Faust's scheduler).
    assert [(r.topic, r.offset) for r in batch.records] == [
        (STREAM.topic, 11), (NEW_STREAM.topic, 0), (STREAM.topic, 12)]
    assert batch.ends == {STREAM: 13, NEW_STREAM: 1}
    assert batch.generation == 3
    assert consumer._read_offset[STREAM] == 12
    assert [(m.topic, m.offset) for m in messages] == [(changelog.topic, 7)]  # Faust's path


def test_a_scored_batch_commits_where_it_ends_and_a_stale_one_commits_nothing(
    app: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, _ = consumer_with(app, monkeypatch, {}, rebalance_during_fetch=False)
    consumer._committed_offset.clear()
    consumer._batch_acked.clear()
    consumer._committed_offset[STREAM] = 11
    batches, _ = deliver(consumer, monkeypatch, {STREAM: [record(STREAM, 11, 1),
                                                          record(STREAM, 12, 2)]})
    stale = FetchBatch.of(2, [(NEW_STREAM, record(NEW_STREAM, 0, 1))])
    assert consumer.scoring(batches[0]) and not consumer.scoring(stale)
    consumer.scored(stale)
    assert consumer._filter_committable_offsets(consumer._filter_tps_with_pending_acks()) == {}
    consumer.scored(batches[0])
    assert consumer._filter_committable_offsets(consumer._filter_tps_with_pending_acks()) == {
        STREAM: 13}
    # Taken once: the next commit has nothing new for the partition.
    assert consumer._filter_committable_offsets(consumer._filter_tps_with_pending_acks()) == {}
