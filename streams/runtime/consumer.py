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
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.errors import KafkaError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

log = logging.getLogger(__name__)


class RebalanceSafeConsumer(faust_aiokafka.Consumer):
    """Drops stream records fetched across a generation change, then rewinds to committed."""

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


def install(app: Any) -> None:
    """Make ``app`` create a :class:`RebalanceSafeConsumer` (call before the worker starts)."""
    app.transport.Consumer = RebalanceSafeConsumer
