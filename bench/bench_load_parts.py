"""Where a sustained-load worker's memory goes per event, offline (see README-load.md).

    .venv/bin/python bench/bench_load_parts.py [--customers 20000]

Two figures that explain RSS growth in ``bench_load.py`` when no new customer arrives:

1. Table row growth: the mean size of ``CustomerState.to_bytes()`` after a customer's first
   event and after its second (the same synthetic events as ``bench_load.py``).
2. Due-time schedule: bytes kept (tracemalloc) per ``DueSchedule.push`` that supersedes a
   customer's due time; superseded heap entries stay until the heap holds more than twice
   the live entries plus 1024 (per partition), then it is compacted.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _stackbench import synthetic_event

from scorers.config import ScoringConfig, load_config
from scorers.events import decode_event
from scorers.schedule import DueSchedule
from scorers.scorer import apply_event
from scorers.state import CustomerState

KINDS = {"purchases": "purchase", "support-tickets": "ticket", "interactions": "interaction"}


def step(state: CustomerState | None, cid: str, n: int, ts: int, rng: random.Random,
         cfg: ScoringConfig) -> CustomerState:
    """Apply customer ``cid``'s ``n``-th synthetic event (event time ``ts``)."""
    topic, event = synthetic_event(cid, n, ts, rng)
    decoded = decode_event(KINDS[topic], orjson.dumps(event), reference_ms=ts)
    new_state, _ = apply_event(state, decoded, cfg)
    return new_state


def row_growth(customers: int, now_ms: int) -> tuple[float, float]:
    """Mean row bytes after one event and after two, over ``customers`` customers."""
    cfg = load_config(None)
    rng = random.Random(1)
    states = {f"load-{c:07d}": step(None, f"load-{c:07d}", 1, now_ms, rng, cfg)
              for c in range(customers)}
    first = sum(len(s.to_bytes()) for s in states.values()) / customers
    later = now_ms + 300_000
    second = sum(len(step(s, cid, 2, later, rng, cfg).to_bytes())
                 for cid, s in states.items()) / customers
    return first, second


def schedule_bytes_per_push(customers: int, now_ms: int, partitions: int = 4) -> float:
    """Bytes kept per push that supersedes a live due time (before any compaction)."""
    schedule = DueSchedule(60_000)
    keys = [f"load-{c:07d}".encode() for c in range(customers)]
    for c, key in enumerate(keys):
        schedule.push(c % partitions, key, now_ms + 10**9 + c)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for c in range(customers):
        # a fresh key object per push, as each Kafka record carries its own key bytes
        schedule.push(c % partitions, f"load-{c:07d}".encode(), now_ms + 2 * 10**9 + c)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return kept / customers


def main(argv: list[str] | None = None) -> int:
    """Print both figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args(argv)
    now_ms = int(time.time() * 1000)
    first, second = row_growth(args.customers, now_ms)
    print(f"table row: {first:.0f} B after 1 event, {second:.0f} B after 2 "
          f"(+{second - first:.0f} B per row)")
    per_push = schedule_bytes_per_push(args.customers, now_ms)
    print(f"due-time schedule: {per_push:.0f} B kept per superseding push (until compaction "
          "at 2 x live + 1024 entries per partition)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
