"""Scoring the next fetch while Kafka acknowledges the outputs of the one before.

Each fetch's outputs must be acknowledged before its state rows are written and before its
offsets are acknowledged to the consumer (at-least-once: a crash can never leave a state
that remembers an event whose score or alert was not published). Waiting for those
acknowledgements before scoring on left the worker idle for a broker round trip per fetch.
Here :meth:`FetchPipeline.take` scores a fetch and hands its outputs to the producer; a
finishing task waits for their acknowledgements, writes the rows and acknowledges the
offsets, strictly in fetch order. The next fetch reads the rows of the ones still being
finished from memory, so it sees the same state it would have seen one fetch at a time.

>>> import asyncio
>>> from streams.runtime.batch_scorer import BatchResult
>>> rows: dict[bytes, bytes] = {}
>>> class Rows:
...     get = rows.get
...     async def write(self, updates): rows.update(updates)
>>> def score(fetch, get):
...     seen = get(b"c") or b""
...     return BatchResult(updates={b"c": seen + fetch})
>>> async def send(emit):
...     return asyncio.sleep(0)
>>> async def main():
...     acknowledged = []
...     pipeline = FetchPipeline(score, send, Rows(), lambda f: True, acknowledged.append)
...     finishing = asyncio.create_task(pipeline.finish())
...     for fetch in (b"1", b"2", b"3"):
...         await pipeline.take(fetch)
...     await pipeline.drained()
...     finishing.cancel()
...     return acknowledged, rows
>>> asyncio.run(main())
([b'1', b'2', b'3'], {b'c': b'123'})
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from streams.runtime.batch_scorer import BatchResult
from streams.runtime.processor import Emit

log = logging.getLogger(__name__)

# Fetches scored and not yet finished: one waiting for its acknowledgements, one scoring.
DEPTH = 2


class Rows(Protocol):
    """Where state rows are read and written (:class:`streams.runtime.state_table.StateTable`)."""

    def get(self, key: bytes) -> bytes | None: ...

    async def write(self, rows: Mapping[bytes, bytes]) -> None: ...


@dataclass(slots=True)
class _Scored:
    fetch: Any
    updates: dict[bytes, bytes]
    acks: list[Awaitable[Any]]


class FetchPipeline:
    """Scores fetches in order; finishes each once its outputs are acknowledged."""

    def __init__(self, score: Callable[[Any, Callable[[bytes], bytes | None]], BatchResult],
                 send: Callable[[Emit], Awaitable[Awaitable[Any]]], rows: Rows,
                 start: Callable[[Any], bool], acknowledge: Callable[[Any], None],
                 depth: int = DEPTH) -> None:
        self.score = score
        self.send = send
        self.rows = rows
        self.start = start
        self.acknowledge = acknowledge
        # Rows of fetches scored but not yet written, newest value per key.
        self._unwritten: dict[bytes, bytes] = {}
        self._scored: asyncio.Queue[_Scored] = asyncio.Queue()
        self._slots = asyncio.Semaphore(depth)
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0

    def get(self, key: bytes) -> bytes | None:
        """The customer's state as the fetches scored so far left it."""
        value = self._unwritten.get(key)
        return value if value is not None else self.rows.get(key)

    async def take(self, fetch: Any) -> bool:
        """Score ``fetch`` and hand its outputs to the producer; False when ``start``
        refuses it (fetched under an older consumer generation)."""
        await self._slots.acquire()
        if not self.start(fetch):
            self._slots.release()
            return False
        self._in_flight += 1
        self._idle.clear()
        try:
            result = self.score(fetch, self.get)
            acks = [await self.send(emit) for emit in result.emits]
        except BaseException:
            self._done()
            raise
        self._unwritten.update(result.updates)
        self._scored.put_nowait(_Scored(fetch, result.updates, acks))
        return True

    async def finish(self) -> None:
        """Finish scored fetches in order, for as long as the worker runs."""
        while True:
            scored = await self._scored.get()
            if scored.acks:
                await asyncio.gather(*scored.acks)
            await self.rows.write(scored.updates)
            unwritten = self._unwritten
            for key, value in scored.updates.items():
                if unwritten.get(key) is value:  # no later fetch has changed it since
                    del unwritten[key]
            self.acknowledge(scored.fetch)
            self._done()

    async def drained(self) -> None:
        """Wait until every fetch taken so far is finished."""
        await self._idle.wait()

    @property
    def in_flight(self) -> int:
        """Fetches taken and not finished."""
        return self._in_flight

    def _done(self) -> None:
        self._in_flight -= 1
        self._slots.release()
        if not self._in_flight:
            self._idle.set()
