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
from streams.runtime.consumer import RebalanceSafeConsumer
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
