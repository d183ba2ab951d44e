"""Faust's aiokafka consumer, made safe against records fetched across a rebalance.

Faust's fetch loop reads the consumer generation only *after* a fetch returns. A fetch that
was in flight while the group rebalanced can therefore hand the new generation stream records
chosen under the old assignment, before or after recovery has sought the partitions back to
their committed offsets. Delivering them moves Faust's read offset past records that are then
dropped as "already read" on the re-fetch, or that were cleared from the stream's queue when
flow resumed; those offsets are never acknowledged, and the partition's commit stays behind
them for good (the worker looks healthy while its lag never drains).

This consumer discards stream records from such a fetch and seeks the assigned partitions back
to their committed offsets, the move Faust itself makes when it finds records while flow is
stopped. Records before the committed offset may be delivered twice; the scorer's event-id
memory makes that harmless. Changelog records pass untouched: recovery tracks its own offsets.

It also hands the input topics' records to the scoring agent a whole fetch at a time
(:class:`streams.runtime.fetch_batch.FetchBatch`) instead of Faust's per-message path, and
takes the agent's acknowledgement as one offset per partition; during recovery it applies
whole fetches of the changelog to the table
(:class:`streams.runtime.changelog_restore.ChangelogRestore`). Faust's commit, rebalance and
recovery machinery stays as it is: the batch's offsets go through the same commit, and a
rebalance waits for the batch being scored, as it waits for unacknowledged messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.runtime.changelog_restore import ChangelogRestore
from streams.runtime.fetch_batch import FetchBatch

log = logging.getLogger(__name__)

# How often a fetch waiting for the agent looks at the group's generation, and after how
# long (and every how long) it says so.
HAND_OVER_CHECK_S = 1.0
HAND_OVER_WARN_S = 30.0


@dataclass(frozen=True)
class FetchRoute:
    """Which topics go to the agent a whole fetch at a time, how a batch is handed over
    (``deliver`` waits while the agent's queue is full), and how to wait until every batch
    handed over is scored and acknowledged (``drained``; a rebalance waits for it)."""

    topics: frozenset[str]
    deliver: Callable[[FetchBatch], Awaitable[Any]]
    drained: Callable[[], Awaitable[None]]
    batch_size: int = 500


class RebalanceSafeConsumer(faust_aiokafka.Consumer):
    """Drops stream records fetched across a generation change, then rewinds to committed;
    delivers the ``route``'s topics as whole fetches."""

    route: FetchRoute | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per partition of a batch topic: the offset to commit, acknowledged by the agent.
        self._batch_acked: dict[TP, int] = {}
        self._restore = ChangelogRestore(self.app)

    def scoring(self, batch: FetchBatch) -> bool:
        """May the agent score ``batch``? Not when it was fetched under another generation:
        its partitions are read again from their committed offsets."""
        return batch.generation == self.app.consumer_generation_id

    def scored(self, batch: FetchBatch) -> None:
        """The agent has published ``batch``'s outputs and written its state: ack it."""
        if batch.generation != self.app.consumer_generation_id:
            return
        committed = self._committed_offset
        for tp, end in batch.ends.items():
            done = committed.get(tp)
            if (done is None or end > done) and end > self._batch_acked.get(tp, -1):
                self._batch_acked[tp] = end
        self._n_acked += len(batch.records)

    async def wait_empty(self) -> None:
        """Wait for the unacknowledged messages, and for the batches being scored."""
        await super().wait_empty()
        if self.route is None:
            return
        while not self.should_stop:
            try:
                await asyncio.wait_for(self.route.drained(), timeout=1)
                return
            except TimeoutError:
                continue

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        yield from super()._filter_tps_with_pending_acks(topics)
        for tp in list(self._batch_acked):
            if tp not in self._acked and (topics is None or tp in topics or tp.topic in topics):
                yield tp

    def _new_offset(self, tp: TP) -> int | None:
        if tp in self._batch_acked:
            return self._batch_acked.pop(tp)
        return super()._new_offset(tp)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._batch_acked.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs Kafka
        route = self.route
        if route is None:
            await super()._drain_messages(fetcher)
            return
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (self._stopped.is_set() or fetcher_stopped()):
                await self.sleep(0)
                if self.should_stop:
                    break
                records, active = await self._wait_next_records(1.0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self._seek_back_while_stopped()
                    continue
                await self._deliver(route, records, active)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise

    async def _deliver(self, route: FetchRoute, records: Mapping[TP, Sequence[Any]],
                       active: set[TP] | None) -> None:
        generation = self.app.consumer_generation_id
        read_offset = self._read_offset
        batch: dict[TP, list[Any]] = {}
        for tp, fetched in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic not in route.topics:
                if self._restore.takes(tp):
                    self._restore.apply(tp, fetched)
                    read_offset[tp] = fetched[-1].offset
                else:
                    await self._deliver_one_by_one(tp, fetched)
                continue
            read = read_offset.get(tp)
            # As Faust's own loop: a record before the read offset was delivered already.
            fresh = list(fetched) if read is None else [r for r in fetched if r.offset >= read]
            if fresh:
                batch[tp] = fresh
                read_offset[tp] = fresh[-1].offset
        if batch:
            if self._n_acked >= (self._commit_every or 2**62):
                self._n_acked = 0
                await self.commit()
            fetch = FetchBatch.of(generation, self.scheduler.iterate(batch))
            for part in fetch.split(route.batch_size):
                if not await self._hand_over(route, part):
                    break  # a rebalance began: the rest is read again from committed

    async def _hand_over(self, route: FetchRoute, batch: FetchBatch) -> bool:
        """Give ``batch`` to the agent. False when a rebalance begins or has passed while the
        agent's queue is full: the assignment that follows seeks back to committed offsets.

        Looking at the generation too, not only at Faust's suspend signal, means a hand-over
        can never outlive the generation it was fetched in, whatever the agent is waiting for.
        """
        delivery = asyncio.ensure_future(route.deliver(batch))
        suspended = asyncio.ensure_future(self.suspend_flow.wait())
        waited = 0.0
        try:
            while True:
                await asyncio.wait({delivery, suspended}, timeout=HAND_OVER_CHECK_S,
                                   return_when=asyncio.FIRST_COMPLETED)
                if delivery.done():
                    delivery.result()
                    return True
                if (suspended.done() or not self.flow_active or self.should_stop
                        or batch.generation != self.app.consumer_generation_id):
                    return False
                waited += HAND_OVER_CHECK_S
                if waited % HAND_OVER_WARN_S == 0:
                    log.warning("the scoring agent has taken no fetch for %.0f s (generation "
                                "%s, %d records waiting)", waited, batch.generation,
                                len(batch.records))
        finally:
            for pending in (delivery, suspended):
                if not pending.done():
                    pending.cancel()

    async def _deliver_one_by_one(self, tp: TP, fetched: Sequence[Any]) -> None:
        """Faust's per-message path, for the other topics (the table's changelog)."""
        for record in fetched:
            read = self._read_offset.get(tp)
            offset = record.offset
            if read is not None and offset < read:
                continue
            if read and offset - read > 1 and self.app.topics.acks_enabled_for(tp.topic):
                await self._add_gap(tp, read + 1, offset)
            await self.wait_first(self.callback(self._to_message(tp, record)),
                                  self.suspend_flow.wait())
            self._read_offset[tp] = offset

    async def _seek_back_while_stopped(self) -> None:
        # What Faust's getmany does when records arrive while flow is stopped.
        try:
            await self.perform_seek()
        except (KafkaError, AssertionError) as exc:
            self.log.warning("seek while flow is stopped failed: %r", exc)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        generation = self.app.consumer_generation_id
        records = await super()._getmany(active_partitions, timeout)
        if not records or self.app.consumer_generation_id == generation:
            return records
        stale = {tp for tp in records if not self._is_changelog_tp(tp)}
        if not stale:
            return records
        log.warning(
            "discarded %d records of %d partitions fetched while the group moved from "
            "generation %s to %s; seeking back to the committed offsets",
            sum(len(records[tp]) for tp in stale), len(stale), generation,
            self.app.consumer_generation_id,
        )
        await self._rewind(stale)
        return {tp: batch for tp, batch in records.items() if tp not in stale}

    async def _rewind(self, partitions: set[TP]) -> None:
        try:
            await self.perform_seek()
            # perform_seek leaves partitions without a committed offset where they are:
            # those start again from the beginning, as a new group would.
            never_committed = [tp for tp in partitions
                               if tp in self.assignment() and self._read_offset.get(tp) is None]
            if never_committed:
                await self._thread.seek_to_beginning(*never_committed)
        except (KafkaError, AssertionError) as exc:
            # The assignment changed again (or the coordinator moved, which rebalances the
            # group): the next generation's recovery seeks every partition to committed.
            log.warning("rewind skipped, the group is rebalancing again: %r", exc)


def install(app: Any, route: FetchRoute | None = None) -> None:
    """Make ``app`` create a :class:`RebalanceSafeConsumer` (call before the worker starts),
    delivering ``route``'s topics as whole fetches."""
    app.transport.Consumer = type("RelscoreConsumer", (RebalanceSafeConsumer,),
                                  {"route": route})
