"""How far the notify consumer may commit: past the alerts done at every destination only.

An alert read from a partition opens as many deliveries as it has destinations; the group's
committed offset of that partition stays at the first alert with a delivery still open. A
crash therefore re-reads every alert not yet done everywhere (the delivery log then skips
the pairs that were done), and never one that was.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

Partition = TypeVar("Partition", bound=Hashable)


class OffsetLedger(Generic[Partition]):
    """Open deliveries per read offset, and the offset each partition may commit.

    >>> ledger: OffsetLedger[str] = OffsetLedger()
    >>> ledger.read("p0", 10, deliveries=2); ledger.read("p0", 11, deliveries=1)
    >>> ledger.settle("p0", 11); ledger.committable()
    {'p0': 10}
    >>> ledger.settle("p0", 10); ledger.settle("p0", 10); ledger.committable()
    {'p0': 12}
    """

    def __init__(self) -> None:
        self._open: dict[Partition, dict[int, int]] = {}
        self._next: dict[Partition, int] = {}

    def read(self, partition: Partition, offset: int, *, deliveries: int) -> None:
        """The record at ``offset`` was read and has ``deliveries`` pairs to do (0: none)."""
        self._next[partition] = offset + 1
        if deliveries > 0:
            self._open.setdefault(partition, {})[offset] = deliveries

    def settle(self, partition: Partition, offset: int) -> None:
        """One delivery of the record at ``offset`` is done (a forgotten partition's: ignored)."""
        open_here = self._open.get(partition)
        if open_here is None or offset not in open_here:
            return
        open_here[offset] -= 1
        if open_here[offset] == 0:
            del open_here[offset]

    def committable(self) -> dict[Partition, int]:
        """Per partition read from, the offset to commit: its first open record, or past
        the last record read when none is open."""
        positions: dict[Partition, int] = {}
        for partition, next_offset in self._next.items():
            open_here = self._open.get(partition)
            positions[partition] = min(open_here) if open_here else next_offset
        return positions

    def pending(self) -> int:
        """Records read with a delivery still open."""
        return sum(len(open_here) for open_here in self._open.values())

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop partitions this consumer no longer owns (after a rebalance)."""
        for partition in partitions:
            self._open.pop(partition, None)
            self._next.pop(partition, None)
