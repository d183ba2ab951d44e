"""The state table's store options: a memory budget for each RocksDB partition.

Faust opens one RocksDB database per table partition with write buffers of 3 x 64 MiB and a
2 GiB block cache each. After a cold recovery of 1,000,000 mature customers into 4 partitions
that held as much memory as the memory store (about 2.1 KB per customer,
``bench/README-pipeline.md``), where a budget of 64 MiB per partition holds about 460 B and
recovers as fast. The budget goes half to the block cache and half to two write buffers.
"""

from __future__ import annotations

from streams.settings import MIN_ROCKSDB_MEMORY_MIB

MIB = 1024 * 1024


def rocksdb_memory_options(memory_mib: int) -> dict[str, int]:
    """Faust RocksDB store options that hold about ``memory_mib`` MiB per partition.

    >>> options = rocksdb_memory_options(64)
    >>> options["write_buffer_size"] // MIB, options["max_write_buffer_number"]
    (16, 2)
    >>> options["block_cache_size"] // MIB, options["block_cache_compressed_size"]
    (32, 0)
    """
    if memory_mib < MIN_ROCKSDB_MEMORY_MIB:
        raise ValueError(f"a RocksDB partition needs at least {MIN_ROCKSDB_MEMORY_MIB} MiB, "
                         f"got {memory_mib}")
    return {
        "write_buffer_size": memory_mib * MIB // 4,
        "max_write_buffer_number": 2,
        "block_cache_size": memory_mib * MIB // 2,
        # Faust's default adds a 500 MiB cache of compressed blocks; the OS page cache already
        # keeps recently read files.
        "block_cache_compressed_size": 0,
    }


def table_store_options(store_url: str, rocksdb_memory_mib: int) -> dict[str, int] | None:
    """The options for the table store at ``store_url``: None for anything but RocksDB.

    >>> table_store_options("memory://", 64) is None
    True
    >>> table_store_options("rocksdb://", 64)["block_cache_size"] // MIB
    32
    """
    if not store_url.startswith("rocksdb:"):
        return None
    return rocksdb_memory_options(rocksdb_memory_mib)
