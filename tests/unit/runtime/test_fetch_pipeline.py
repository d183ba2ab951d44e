"""The fetch pipeline's order: outputs acknowledged, then rows, then offsets; never past a
fetch whose outputs failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from streams.runtime.batch_scorer import BatchResult
from streams.runtime.fetch_pipeline import FetchPipeline
from streams.runtime.processor import Emit


class Rows:
    def __init__(self) -> None:
        self.stored: dict[bytes, bytes] = {}
        self.writes: list[dict[bytes, bytes]] = []

    def get(self, key: bytes) -> bytes | None:
        return self.stored.get(key)

    async def write(self, rows: Mapping[bytes, bytes]) -> None:
        self.writes.append(dict(rows))
        self.stored.update(rows)


def appending(fetch: bytes, get: Callable[[bytes], bytes | None]) -> BatchResult:
    """Each fetch appends itself to customer c's state and publishes one record."""
    return BatchResult(emits=[Emit("scores", b"c", fetch)],
                       updates={b"c": (get(b"c") or b"") + fetch})


def test_a_fetch_reads_the_rows_of_the_fetches_still_waiting_for_acknowledgement() -> None:
    async def main() -> tuple[list[bytes], Rows, list[bytes | None]]:
        rows, acknowledged, seen = Rows(), [], []
        release = asyncio.Event()

        async def send(emit: Emit) -> asyncio.Future[None]:
            async def acked() -> None:
                await release.wait()
            return asyncio.ensure_future(acked())

        def score(fetch: bytes, get: Callable[[bytes], bytes | None]) -> BatchResult:
            seen.append(get(b"c"))
            return appending(fetch, get)

        pipeline = FetchPipeline(score, send, rows, lambda f: True, acknowledged.append)
        finishing = asyncio.create_task(pipeline.finish())
        await pipeline.take(b"1")
        await pipeline.take(b"2")
        assert rows.writes == [] and acknowledged == [] and pipeline.in_flight == 2
        release.set()
        await pipeline.drained()
        finishing.cancel()
        return acknowledged, rows, seen

    acknowledged, rows, seen = asyncio.run(main())
    assert seen == [None, b"1"]
    assert acknowledged == [b"1", b"2"]
    assert rows.writes == [{b"c": b"1"}, {b"c": b"12"}]


def test_a_failed_acknowledgement_stops_the_pipeline_before_rows_or_offsets() -> None:
    async def main() -> tuple[list[bytes], Rows, BaseException | None]:
        rows, acknowledged = Rows(), []

        async def send(emit: Emit) -> asyncio.Future[None]:
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if emit.value == b"2":
                failed.set_exception(OSError("broker gone"))
            else:
                failed.set_result(None)
            return failed

        pipeline = FetchPipeline(appending, send, rows, lambda f: True, acknowledged.append)
        finishing = asyncio.create_task(pipeline.finish())
        for fetch in (b"1", b"2"):
            await pipeline.take(fetch)
        await asyncio.wait([finishing])
        return acknowledged, rows, finishing.exception()

    acknowledged, rows, failure = asyncio.run(main())
    assert isinstance(failure, OSError)
    assert acknowledged == [b"1"]
    assert rows.stored == {b"c": b"1"}


def test_a_refused_fetch_is_not_scored() -> None:
    def never(*args: object) -> Any:
        pytest.fail("a refused fetch was scored, sent or acknowledged")

    async def main() -> tuple[bool, int]:
        pipeline = FetchPipeline(never, never, Rows(), lambda f: False, never)
        return await pipeline.take(b"stale"), pipeline.in_flight

    assert asyncio.run(main()) == (False, 0)
