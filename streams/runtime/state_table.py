"""The customer-state table's rows, read and written by relscore rather than through Faust's
per-key path.

Faust stays the owner of the table: its store, its changelog topic, recovery and standby
handling. What changes is a write. ``table[key] = value`` looks up the current event to pick
a partition, builds a future message, queues it in Faust's producer buffer and calls sensors,
for every row; the RocksDB store also takes the partition from the current event, which is
wrong for rows written after a whole batch (the agent consumes whole fetches, so there is no
such event). Here a row goes to the store's partition for its key (murmur2, as producers
partition the inputs) and to the changelog as one record handed straight to the producer.
Faust flushes the producer before every offset commit, so a committed input offset still
never passes a row that is not in the changelog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from faust.stores import memory
from faust.types import TP

from streams.runtime.partitioning import cached_partition_for
from streams.runtime.processor import Emit

# Hands a record to the worker's producer; what it returns resolves to the record's metadata
# once Kafka has acknowledged it (aiokafka's asyncio.Future).
Send = Callable[[Emit], Awaitable[Any]]


class StateTable:
    """Rows of a Faust table with ``bytes`` keys and values, one store write and one
    changelog record per row."""

    def __init__(self, table: Any, partitions: int, send: Send) -> None:
        self.table = table
        self.partitions = partitions
        self.send = send
        self.changelog = table.changelog_topic.get_topic_name()

    @property
    def _store(self) -> Any:
        return self.table.data

    def get(self, key: bytes) -> bytes | None:
        """The stored row of ``key``, or None."""
        store = self._store
        if isinstance(store, memory.Store):
            value: bytes | None = store.data.get(key)
            return value
        db = store._db_for_partition(cached_partition_for(key, self.partitions))
        return db.get(key)  # type: ignore[no-any-return]

    def partition_rows(self) -> Iterator[tuple[int, bytes, bytes]]:
        """Every stored row with its partition: ``(partition, key, value)``."""
        store = self._store
        if isinstance(store, memory.Store):
            # The store's recovery and :meth:`write` note each key's partition.
            partitions = store._key_partition
            for key, value in store.data.items():
                partition = partitions.get(key)
                if partition is None:
                    partition = cached_partition_for(key, self.partitions)
                yield partition, key, value
            return
        # RocksDB: one database per partition; Faust's helper skips its offset entry.
        for partition, db in list(store._dbs.items()):
            for key, value in store._visible_items(db):
                yield partition, key, value

    async def write(self, rows: Mapping[bytes, bytes]) -> None:
        """Store ``rows`` and hand their changelog records to the producer (without waiting
        for Kafka's acknowledgements: Faust flushes before it commits)."""
        store = self._store
        in_memory = isinstance(store, memory.Store)
        for key, value in rows.items():
            partition = cached_partition_for(key, self.partitions)
            if in_memory:
                store.data[key] = value
                # As the store's own recovery does: at the end of a later recovery, rows of
                # partitions this worker no longer holds are dropped.
                store._key_partition[key] = partition
            else:
                # Faust's RocksDB store keeps one database per partition and an index of
                # which one holds a key; its own writes take the partition from the event.
                store._db_for_partition(partition).put(key, value)
                store._key_index[key] = partition
            sent = await self.send(Emit(self.changelog, key, value, partition=partition))
            if not in_memory:
                sent.add_done_callback(self._persisted(store, partition))

    def _persisted(self, store: Any, partition: int) -> Callable[[Any], None]:
        tp = TP(self.changelog, partition)

        def remember(sent: Any) -> None:
            # The store remembers the changelog offset it holds, so that a restart reads the
            # changelog only from there (what Faust's own writes do on acknowledgement).
            if not sent.cancelled() and sent.exception() is None:
                store.set_persisted_offset(tp, sent.result().offset)

        return remember
