"""Where the worker's time goes, per event: py-spy on a live worker, cProfile in-process.

    .venv/bin/python bench/profile_worker.py [--mode both|live|inprocess]
        [--events 60000] [--customers 6000] [--duration 60] [--inprocess-events 8000]

live: pre-loads a simulated population into fresh input topics, starts one ``relscore
worker`` on them and samples it with ``py-spy record`` (100 Hz, raw collapsed stacks) for
``--duration`` seconds while it scores the backlog; prints the top functions by self and
inclusive time and the self time per area (model, relscore adapter, faust, aiokafka ...).

inprocess: the agent body alone (streams.runtime.batch_scorer.BatchScorer fed Records, a dict for
the table, no Kafka) under cProfile: exact call counts, the top functions by own time.

Needs py-spy for live (``.venv/bin/pip install py-spy``). Files land in the work directory
it prints (raw stacks: feed them to flamegraph.pl or speedscope for a picture).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stackbench import (
    AgentLoop,
    app_settings,
    base_settings,
    cleanup_topics,
    cpu_seconds,
    machine_load,
    new_run_id,
    preload,
    records_for,
    scrape_counters,
    simulated_messages,
    start_pyspy,
    stop_pyspy,
    summarise_pyspy,
    wait_log,
)

from streams.laptop.worker_process import WorkerProcess
from streams.runtime.group_offsets import group_lag
from streams.settings import Settings


def live(settings: Settings, work: Path, messages: list, duration: float) -> None:  # type: ignore[type-arg]
    count, seconds = preload(settings, messages)
    print(f"pre-loaded {count} messages in {seconds:.1f} s")
    worker = WorkerProcess(settings, work / "worker.log").start()
    assert worker.process is not None
    pid = worker.process.pid
    try:
        wait_log(worker, b"Worker ready", 180)
        time.sleep(3)  # past the first fetches
        inputs = list(settings.topics.inputs)
        lag0 = group_lag(settings, inputs)
        cpu0 = cpu_seconds(pid)
        started = time.time()
        raw = work / "worker.pyspy.txt"
        spy = start_pyspy(pid, raw, rate=100, duration=duration)
        try:
            spy.wait(timeout=duration + 120)
        finally:
            output = stop_pyspy(spy)
        elapsed = time.time() - started
        cpu = cpu_seconds(pid) - cpu0
        lag1 = group_lag(settings, inputs)
        counters = scrape_counters(settings)
        done = lag0 - lag1
        print(f"sampled {elapsed:.0f} s: worker scored about {done} events "
              f"({done / elapsed:,.0f}/s), used {cpu:.1f} CPU-s "
              f"({cpu / elapsed:.0%} of one CPU; {cpu * 1000 / max(1, done):.2f} CPU-ms per "
              f"event); {machine_load()}")
        print(f"worker counters so far: {counters}")
        if not raw.exists():
            print(f"py-spy wrote nothing:\n{output}")
            return
        print(f"raw stacks: {raw}\n")
        print(summarise_pyspy(raw))
    finally:
        worker.stop(timeout=30)


def inprocess(settings: Settings, messages: list, events: int) -> None:  # type: ignore[type-arg]
    records = records_for(settings, messages[:events], time.time_ns() // 1_000_000)
    loop = AgentLoop(settings, records)
    size = getattr(settings, "batch_size", 500)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for index in range(0, len(records), size):
        loop.process(records[index:index + size])
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"agent body under cProfile: {loop.events} records, {loop.rescores} re-score pops, "
          f"{loop.emitted} records to produce, {elapsed:.1f} s "
          f"({loop.events / elapsed:,.0f} records/s with the profiler's overhead)")
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # type: ignore[attr-defined]
    print(f"\ntop 15 by own time (of {total:.1f} s profiled):")
    print(f"  {'own %':>6} {'cum %':>6} {'calls':>9}  function")
    for (path, line, func), (_cc, calls, own, cum, _callers) in rows[:15]:
        where = path.split("/work/main/")[-1].split("site-packages/")[-1]
        print(f"  {own / total:6.1%} {cum / total:6.1%} {calls:9d}  {func} ({where}:{line})")
    cum_rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])  # type: ignore[attr-defined]
    print("\ntop 15 relscore functions by cumulative time:")
    shown = 0
    for (path, line, func), (_cc, calls, _own, cum, _callers) in cum_rows:
        if "/work/main/" not in path or "bench/" in path:
            continue
        print(f"  {cum / total:6.1%} {calls:9d}  {func} ({path.split('/work/main/')[-1]}:{line})")
        shown += 1
        if shown == 15:
            break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("both", "live", "inprocess"), default="both")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--customers", type=int, default=6_000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--inprocess-events", type=int, default=8_000)
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args(argv)

    base = base_settings()
    run = new_run_id("prof")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    settings = app_settings(base, f"bench-{run}-in", f"bench-{run}-app", work)
    print(f"run {run}; work dir {work}; {machine_load()}")
    messages, described = simulated_messages(args.customers, args.events)
    print(f"data: {described}")
    try:
        if args.mode in ("both", "inprocess"):
            print("\n== in-process: the agent body (BatchScorer) under cProfile ==")
            inprocess(settings, messages, args.inprocess_events)
        if args.mode in ("both", "live"):
            print("\n== live worker under py-spy ==")
            live(settings, work, messages, args.duration)
    finally:
        if not args.keep_topics:
            cleanup_topics(base, f"bench-{run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
