"""Recovery of the state table a whole fetch at a time.

Faust recovers a table row by row: each changelog record becomes a message and an event,
goes through the consumer's per-message callback and an asyncio queue, and the recovery loop
takes it from there and checks after each one whether recovery is done: ~100 us a row here,
so 1M customers took minutes. During recovery the worker's consumer
(:mod:`streams.runtime.consumer`) hands each fetch of an active changelog partition to
:class:`ChangelogRestore` instead, which applies it with the table store's own batch write
(``apply_changelog_batch``, as Faust's recovery does with its buffers), advances Faust's
recovery offsets and ends recovery the way Faust's loop does. Faust's offsets, highwaters,
assignment and its "recovery ended" signal are untouched, so the rest of its recovery (seeking,
pausing, resuming, ``on_recover`` callbacks) runs as before.

Faust has no public hook for this, so this module reads its recovery object's offsets and
buffers; each such place says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any

from faust.types import TP

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChangelogMessage:
    """What a Faust store reads of a changelog message."""

    tp: TP
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ChangelogRow:
    """The shape of a Faust event that ``Store.apply_changelog_batch`` reads (raw bytes)."""

    key: bytes | None
    value: bytes | None
    message: ChangelogMessage


def rows_of(tp: TP, records: Sequence[Any]) -> list[ChangelogRow]:
    """Changelog rows of aiokafka consumer records of ``tp``.

    >>> from types import SimpleNamespace as Rec
    >>> [row] = rows_of(TP("log", 2), [Rec(offset=9, key=b"k", value=None)])
    >>> row.key, row.value, row.message.partition, row.message.offset
    (b'k', None, 2, 9)
    """
    topic, partition = tp.topic, tp.partition
    return [ChangelogRow(r.key, r.value, ChangelogMessage(tp, topic, partition, r.offset,
                                                          r.key, r.value))
            for r in records]


class ChangelogRestore:
    """Applies whole fetches of active changelog partitions while the app recovers."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rows = 0

    def takes(self, tp: TP) -> bool:
        """Is ``tp`` an active changelog partition being recovered, with nothing of it left in
        Faust's own row-by-row path (which would then apply older rows after newer ones)?"""
        if not self.app.in_recovery:
            return False
        tables = self.app.tables
        recovery = tables.recovery
        if not recovery.in_recovery or tp not in recovery.active_tps:
            return False
        table = recovery.tp_to_table.get(tp)
        return bool(table is not None and table._on_changelog_event is None
                    and tables.changelog_queue.empty() and not recovery.buffers.get(table))

    def apply(self, tp: TP, records: Sequence[Any]) -> None:
        """Write ``records`` (one fetch of ``tp``, in offset order) to the table's store."""
        recovery = self.app.tables.recovery
        # Faust's recovery offsets: the last changelog offset applied per partition.
        offsets = recovery.active_offsets
        seen = offsets.get(tp)
        fresh = records if seen is None else [r for r in records if r.offset > seen]
        if not fresh:
            return
        table = recovery.tp_to_table[tp]
        table.apply_changelog_batch(rows_of(tp, fresh))
        offsets[tp] = fresh[-1].offset
        now = monotonic()
        # Faust's progress checks read these: without them a long recovery would be
        # reported as one that receives nothing and never flushes.
        recovery._active_events_received_at[tp] = now
        recovery._last_flush_at = now
        self.rows += len(fresh)
        if not recovery.need_recovery():
            # What Faust's recovery loop does once the last active row is applied.
            recovery.flush_buffers()
            recovery._set_recovery_ended()
            recovery.signal_recovery_end.set()
            log.info("recovered %d changelog rows a fetch at a time", self.rows)
            self.rows = 0
