"""The RocksDB memory budget reaches Faust's RocksDB options under the names Faust reads."""

from __future__ import annotations

import pytest
from faust.stores.rocksdb import RocksDBOptions

from streams.runtime.store_options import MIB, rocksdb_memory_options, table_store_options
from streams.settings import Settings, SettingsError


@pytest.mark.parametrize("budget_mib", [8, 64, 1024])
def test_budget_is_split_between_block_cache_and_two_write_buffers(budget_mib: int) -> None:
    options = RocksDBOptions(**rocksdb_memory_options(budget_mib), use_rocksdict=True)
    held = options.block_cache_size + options.block_cache_compressed_size + (
        options.write_buffer_size * options.max_write_buffer_number)
    assert held == budget_mib * MIB
    assert options.as_options() is not None  # rocksdict accepts every value


def test_only_rocksdb_gets_options() -> None:
    assert table_store_options("memory://", 64) is None
    assert table_store_options("rocksdb://", 16) == rocksdb_memory_options(16)


def test_a_budget_too_small_is_refused_with_the_variable() -> None:
    with pytest.raises(SettingsError, match="RELSCORE_ROCKSDB_MEMORY_MIB=4"):
        Settings.from_env({"RELSCORE_ROCKSDB_MEMORY_MIB": "4"})
    assert Settings.from_env({}).worker.rocksdb_memory_mib == 64
