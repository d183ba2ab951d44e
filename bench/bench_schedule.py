"""Cost of noticing silence: a due-time tick against a full scan of the state table.

    .venv/bin/python bench/bench_schedule.py [--sizes 10000,100000,1000000] [--due 0,100,1000]
        [--ticks 7] [--scan-budget 600] [--templates 64] [--seed 1]

A table of the largest size is built from real ``CustomerState.to_bytes()`` rows (synthetic
customers: template states scored from seeded random histories, cloned under new customer
ids) in a dict standing in for the state table. For every table size N (the first N rows) and
every due count D, a :class:`DueSchedule` holds all N customers: D of them due in each of the
``--ticks`` one-minute windows, the rest due later (up to 30 days). A tick is what the worker
does when a partition's event-time clock moves (``streams.runtime.batch_scorer.BatchScorer``):
observe the clock, pop the due customers and for each decode its row, ``rescore`` it at its due
time, serialise its score messages and alerts and its new row, and push its next due time; rows go
to a per-tick updates dict, as the worker writes them only after the batch. The median tick is
reported with the number of customers it actually re-scored.

The contrast is a full scan, what a worker without a schedule would do on every tick: decode
and ``evaluate`` every row of the table. It runs at every size whose projected time (from the
smaller sizes) fits ``--scan-budget`` seconds; otherwise the projection is printed, marked.

Times are wall-clock (time.perf_counter) and CPU (time.process_time) of this process; the
machine may be shared, so compare the ratios within one run rather than absolute figures.
RSS (VmRSS from /proc/self/status) is printed before and after building the table and the
schedules.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scorers.config import DAY_MS, DEFAULT_CONFIG, ScoringConfig
from scorers.events import CHANNELS, Event, InteractionEvent, PurchaseEvent, TicketEvent
from scorers.model import evaluate
from scorers.schedule import MINUTE_MS, DueSchedule
from scorers.scorer import apply_event, rescore
from scorers.state import CustomerState

T_END = 1_767_225_600_000 + 200 * DAY_MS  # histories end here
T_TICKS = T_END + 10 * DAY_MS  # the ticks start after ten days of silence
PARTITION = 0
SEGMENTS = (None, None, "enterprise", "smb")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_load() -> str:
    try:
        one, five = Path("/proc/loadavg").read_text().split()[:2]
    except OSError:
        return "load unknown"
    return f"load average {one} (1 min), {five} (5 min) on {os.cpu_count()} CPUs"


# --- synthetic customers ------------------------------------------------------------------------


def random_history(rng: random.Random, customer: str) -> list[Event]:
    """A customer's events over the 120 days before T_END: purchases, touches, tickets."""
    segment = rng.choice(SEGMENTS)
    events: list[Event] = []
    for n in range(rng.randint(5, 80)):
        ts = T_END - rng.randrange(0, 120 * DAY_MS)
        event_id = f"{customer}-e{n}"
        kind = rng.random()
        if kind < 0.35:
            events.append(PurchaseEvent(
                event_id=event_id, customer_id=customer, ts=ts, segment=segment,
                order_id=f"o-{n}", type=rng.choice(("purchase",) * 8 + ("return", "refund")),
                amount=round(rng.uniform(5, 2000), 2), currency="USD",
                product_id=f"p-{rng.randrange(8)}", category=None, quantity=1))
        elif kind < 0.85:
            events.append(InteractionEvent(
                event_id=event_id, customer_id=customer, ts=ts, segment=segment,
                channel=rng.choice(CHANNELS), direction=None,
                sentiment=rng.choice((None, round(rng.uniform(-1, 1), 2))),
                nps=rng.choice((None,) * 5 + (rng.randrange(11),)),
                csat=rng.choice((None,) * 5 + (rng.randint(1, 5),)),
                product_id=rng.choice((None, f"p-{rng.randrange(8)}"))))
        else:
            events.append(TicketEvent(
                event_id=event_id, customer_id=customer, ts=ts, segment=segment,
                ticket_id=f"t-{rng.randrange(6)}",
                status=rng.choice(("opened", "opened", "escalated", "resolved", "closed")),
                priority=rng.randrange(4), csat=rng.choice((None, rng.randint(1, 5))),
                category=None))
    events.sort(key=lambda e: e.ts)
    return events


def templates(count: int, seed: int, cfg: ScoringConfig) -> list[CustomerState]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        state: CustomerState | None = None
        for event in random_history(rng, f"template-{i}"):
            state, _ = apply_event(state, event, cfg)
        assert state is not None
        out.append(state)
    return out


def build_table(size: int, shapes: Sequence[CustomerState]) -> tuple[dict[bytes, bytes],
                                                                      list[bytes]]:
    """``size`` rows: the template states cloned under customer ids c-0000000, c-0000001..."""
    table: dict[bytes, bytes] = {}
    keys: list[bytes] = []
    for i in range(size):
        customer = f"c-{i:07d}"
        shape = shapes[i % len(shapes)]
        shape.customer_id = customer  # to_bytes copies: one template object is reused
        key = customer.encode()
        table[key] = shape.to_bytes()
        keys.append(key)
    return table, keys


# --- the two ways of noticing silence -----------------------------------------------------------


@dataclass
class Tick:
    wall_s: float
    cpu_s: float
    rescored: int


def plant(keys: Sequence[bytes], due: int, ticks: int, rng: random.Random,
          lateness_ms: int) -> DueSchedule:
    """A schedule over ``keys`` built with ``push``: ``due`` customers in each tick's
    one-minute window, the others due after the last tick (up to 30 days later)."""
    schedule = DueSchedule(lateness_ms)
    planted = due * ticks
    after = T_TICKS + (ticks + 1) * MINUTE_MS
    for i, key in enumerate(keys):
        if i < planted:
            when = T_TICKS + (i // due) * MINUTE_MS + rng.randrange(1, MINUTE_MS + 1)
        else:
            when = after + rng.randrange(0, 30 * DAY_MS)
        schedule.push(PARTITION, key, when)
    schedule.observe(PARTITION, T_TICKS + lateness_ms)  # the clock stands at T_TICKS
    return schedule


def tick(schedule: DueSchedule, table: dict[bytes, bytes], clock_ts: int,
         cfg: ScoringConfig) -> Tick:
    """One clock move, as streams.runtime.batch_scorer.BatchScorer.advance does it."""
    updates: dict[bytes, bytes] = {}
    rescored = 0
    wall, cpu = time.perf_counter(), time.process_time()
    schedule.observe(PARTITION, clock_ts + schedule.allowed_lateness_ms)
    while due_now := list(schedule.pop_due(PARTITION)):
        for due, key in due_now:
            raw = updates.get(key) or table[key]
            state, outputs = rescore(CustomerState.from_bytes(raw), due, cfg)
            for message in (*outputs.scores, *outputs.alerts):
                orjson.dumps(message)
            updates[key] = state.to_bytes()
            schedule.push(PARTITION, key, state.next_due)
            rescored += 1
    return Tick(time.perf_counter() - wall, time.process_time() - cpu, rescored)


def full_scan(table: dict[bytes, bytes], keys: Sequence[bytes], at: int,
              cfg: ScoringConfig) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for key in keys:
        evaluate(CustomerState.from_bytes(table[key]), at, cfg)
    return time.perf_counter() - wall, time.process_time() - cpu


# --- main ---------------------------------------------------------------------------------------


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=ints, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--due", type=ints, default=[0, 100, 1000])
    parser.add_argument("--ticks", type=int, default=7)
    parser.add_argument("--scan-budget", type=float, default=600.0,
                        help="seconds a single full scan may take (projected) to be run")
    parser.add_argument("--templates", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lateness-ms", type=int, default=60_000)
    args = parser.parse_args()
    cfg = DEFAULT_CONFIG
    sizes = sorted(args.sizes)
    for size in sizes:
        if max(args.due) * args.ticks > size:
            parser.error(f"--due {max(args.due)} x --ticks {args.ticks} exceeds size {size}")

    print(f"bench_schedule: {machine_load()}; python {sys.version.split()[0]}")
    rss_start = rss_mib()
    shapes = templates(args.templates, args.seed, cfg)
    blob_sizes = [len(s.to_bytes()) for s in shapes]
    print(f"{len(shapes)} template states, rows of {min(blob_sizes)}-{max(blob_sizes)} bytes "
          f"(mean {statistics.mean(blob_sizes):.0f})")
    gc.collect()
    rss_before = rss_mib()
    started = time.perf_counter()
    table, keys = build_table(sizes[-1], shapes)
    print(f"table of {len(table):,} rows built in {time.perf_counter() - started:.1f} s")
    gc.collect()
    rss_table = rss_mib()
    print(f"RSS: {rss_start:.0f} MiB at start, {rss_before:.0f} MiB before the table, "
          f"{rss_table:.0f} MiB after it (+{rss_table - rss_before:.0f} MiB, "
          f"{(rss_table - rss_before) * 2**20 / len(table):.0f} B per customer)")

    # The same rows as compact copies: orjson returns each row in a larger buffer shrunk in
    # place, which the allocator cannot give back; a copy is allocated at its own length.
    sample = keys[: min(len(keys), 50_000)]
    gc.collect()
    rss_pre = rss_mib()
    copies = [bytes(memoryview(table[key])) for key in sample]
    compact = (rss_mib() - rss_pre) * 2**20 / len(sample)
    mean_row = statistics.mean(len(table[key]) for key in sample)
    print(f"rows average {mean_row:.0f} bytes; as compact copies they take {compact:.0f} B of "
          f"RSS each (measured on {len(sample):,})")
    del copies

    rng = random.Random(args.seed)
    rows: list[tuple[int, int, Tick, list[Tick]]] = []
    for size in sizes:
        subset = keys[:size]
        for due in args.due:
            gc.collect()
            rss_pre = rss_mib()
            started = time.perf_counter()
            schedule = plant(subset, due, args.ticks, rng, args.lateness_ms)
            build_s = time.perf_counter() - started
            heap_mib = rss_mib() - rss_pre
            results = [tick(schedule, table, T_TICKS + (k + 1) * MINUTE_MS, cfg)
                       for k in range(args.ticks)]
            median = sorted(results, key=lambda r: r.wall_s)[len(results) // 2]
            rows.append((size, due, median, results))
            print(f"  N={size:>9,} due={due:>5}: median tick {fmt_s(median.wall_s)} wall, "
                  f"{fmt_s(median.cpu_s)} CPU, re-scored "
                  f"{sorted({r.rescored for r in results})}; schedule built in {build_s:.1f} s, "
                  f"+{heap_mib:.0f} MiB RSS",
                  flush=True)
            if size == sizes[-1] and due == args.due[-1]:
                print(f"RSS with the {size:,}-row table and its schedule: {rss_mib():.0f} MiB "
                      f"(schedule holds {len(schedule):,} due times, "
                      f"heap {len(schedule.heaps[PARTITION]):,} entries)")
            del schedule

    scans: dict[int, tuple[float, float, bool]] = {}
    per_row: float | None = None
    per_row_cpu: float | None = None
    for size in sizes:
        projected = None if per_row is None else per_row * size
        if projected is not None and per_row_cpu is not None and projected > args.scan_budget:
            scans[size] = (projected, per_row_cpu * size, True)
            print(f"  full scan N={size:,}: projected {fmt_s(projected)} "
                  f"(> --scan-budget {args.scan_budget:.0f} s): not run", flush=True)
            continue
        repeats = 3 if size <= 10_000 else 1
        runs = [full_scan(table, keys[:size], T_TICKS + MINUTE_MS, cfg) for _ in range(repeats)]
        wall, cpu = sorted(runs)[len(runs) // 2]
        scans[size] = (wall, cpu, False)
        per_row, per_row_cpu = wall / size, cpu / size
        print(f"  full scan N={size:,}: {fmt_s(wall)} wall, {fmt_s(cpu)} CPU "
              f"({wall / size * 1e6:.0f} us per customer)", flush=True)

    print()
    print("Tick = advance the clock one minute, re-score only the due customers (real rescore "
          "on decoded rows).")
    print("Full scan = decode + evaluate every row. Median of "
          f"{args.ticks} ticks; * = projected from the largest scan run, not run.")
    print()
    versus = f"CPU vs {sizes[0] // 1000}k"
    header = (f"{'customers':>10} {'due':>5} {'re-scored':>9} {'tick wall':>10} "
              f"{'tick CPU':>9} {versus:>11} {'scan wall':>10} {'scan CPU':>9} "
              f"{'scan/tick CPU':>14} {'scan/tick wall':>15}")
    print(header)
    print("-" * len(header))
    smallest = {due: tick_ for size, due, tick_, _ in rows if size == sizes[0]}

    def ratio(scan: float, one_tick: float) -> str:
        return f"{scan / one_tick:,.0f}x" if one_tick > 0 else "-"

    for size, due, median, _ in rows:
        scan_wall, scan_cpu, projected = scans[size]
        mark = "*" if projected else ""
        base = smallest[due].cpu_s
        print(f"{size:>10,} {due:>5} {median.rescored:>9} {fmt_s(median.wall_s):>10} "
              f"{fmt_s(median.cpu_s):>9} "
              f"{(f'{median.cpu_s / base:.2f}x' if base > 0 else '-'):>11} "
              f"{fmt_s(scan_wall) + mark:>10} {fmt_s(scan_cpu) + mark:>9} "
              f"{ratio(scan_cpu, median.cpu_s) + mark:>14} "
              f"{ratio(scan_wall, median.wall_s) + mark:>15}")
    print()
    print(f"RSS at the end: {rss_mib():.0f} MiB; {machine_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
