"""The notify consumer commits past alerts done at every destination, and never past one not."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from streams.notify.offset_ledger import OffsetLedger

FIRST = 100


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=40),
       st.randoms(use_true_random=False))
def test_the_commit_stops_at_the_first_record_with_a_delivery_open(
        deliveries: list[int], rng: random.Random) -> None:
    """Records with 0 to 3 destinations each, their deliveries finishing in any order."""
    ledger: OffsetLedger[str] = OffsetLedger()
    open_pairs: list[int] = []
    for offset, count in enumerate(deliveries, start=FIRST):
        ledger.read("p", offset, deliveries=count)
        open_pairs += [offset] * count
    rng.shuffle(open_pairs)
    while True:
        expected = min(open_pairs) if open_pairs else FIRST + len(deliveries)
        assert ledger.committable() == {"p": expected}
        assert ledger.pending() == len(set(open_pairs))
        if not open_pairs:
            break
        ledger.settle("p", open_pairs.pop())


def test_partitions_commit_apart_and_a_forgotten_one_is_dropped() -> None:
    ledger: OffsetLedger[str] = OffsetLedger()
    ledger.read("p0", 5, deliveries=1)
    ledger.read("p1", 7, deliveries=0)
    assert ledger.committable() == {"p0": 5, "p1": 8}
    ledger.forget(["p0"])
    ledger.settle("p0", 5)  # a delivery finishing after its partition went elsewhere
    assert ledger.committable() == {"p1": 8}
    assert ledger.pending() == 0
