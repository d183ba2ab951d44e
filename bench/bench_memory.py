"""Worker memory per customer and changelog recovery time.

    .venv/bin/python bench/bench_memory.py [--customers 50000] [--budget 300]
        [--clone-to 1000000]

Phase 1, processed: a worker (fresh app id, fresh topics) starts on empty inputs; its RSS is
read when idle; then one event for each of ``--customers`` customers is produced and the
worker scores them until caught up (or ``--budget`` seconds, then the customers it scored
count). RSS per customer = (RSS caught up - RSS idle) / customers scored.

Phase 2, recovery: the worker is stopped and a fresh one (same app id, empty data directory)
rebuilds the table from the changelog. Recovery time = process start -> "Worker ready" (and,
from the log, Faust's "Restoring state" -> "Worker ready", which includes the schedule and
band rebuild of ``on_recovered``); RSS after recovery.

Phase 3, scaled (``--clone-to N``, 0 to skip): when the machine cannot score N customers in
the time, the N-customer table is made by cloning phase 1's real state rows under new customer
ids straight into a fresh app's changelog (key = customer id, partition by murmur2, as the
worker writes them); a fresh worker then recovers it: recovery time and RSS per customer at
N. The rows are real model states; only their number and ids are synthetic.

Variants (``--variants``): the same ``--variant-rows``-row cloned changelog is recovered by
fresh workers with different extra environment (Faust reads many settings from the
environment, e.g. ``STREAM_BUFFER_MAXSIZE``, ``CONSUMER_MAX_FETCH_SIZE``; ``RELSCORE_*``
overrides relscore's own), alternating the variants ``--rounds`` times (A B A B ...), so
each ratio compares runs under the same machine load. Syntax:
``name:KEY=VALUE,KEY=VALUE;name2:...`` (an empty list after ``:`` is the baseline). A
variant with ``DATADIR=label`` keeps one data directory for all its runs (primed by one
uncounted recovery first): with ``RELSCORE_TABLE_STORE=rocksdb://`` that is a warm restart,
which reads only the changelog tail.

VmRSS comes from /proc/<pid>/status of the worker process.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _stackbench import (
    app_settings,
    base_settings,
    cleanup_topics,
    create_topics,
    end_offsets_total,
    log_time,
    machine_load,
    new_run_id,
    one_event_each,
    produce,
    rss_kib,
    start_pyspy,
    stop_pyspy,
    summarise_pyspy,
    topic_name,
    wait_log,
)

from streams.kafka_clients import kafka_client_config
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.group_offsets import group_lag
from streams.runtime.partitioning import partition_for
from streams.runtime.topic_layout import changelog_topic
from streams.settings import Settings

RECOVERY_MARKS = (b"Restoring state from changelog topics", b"Done reading from changelog topics",
                  b"Recovery complete", b"schedule rebuilt", b"Worker ready")


def log_marks(path: Path, start_at: int) -> dict[str, float]:
    """Log times of the recovery milestones written after byte ``start_at``."""
    marks: dict[str, float] = {}
    for line in path.read_bytes()[start_at:].splitlines():
        for mark in RECOVERY_MARKS:
            if mark in line and mark.decode() not in marks:
                stamp = log_time(line)
                if stamp is not None:
                    marks[mark.decode()] = stamp
    return marks


def settle_rss(pid: int, seconds: float = 3.0) -> int:
    """RSS after a short quiet period (the last of a few reads)."""
    deadline = time.monotonic() + seconds
    rss = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        rss = rss_kib(pid)
    return rss


def start_and_recover(settings: Settings, log_path: Path, timeout: float,
                      profile: Path | None = None,
                      extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start a worker with an empty data dir; wait for "Worker ready"; time the recovery.

    With ``profile``, py-spy samples the worker from its first seconds until it is ready."""
    start_at = log_path.stat().st_size if log_path.exists() else 0
    started = time.time()
    worker = WorkerProcess(settings, log_path, extra_env).start()
    assert worker.process is not None
    spy = None
    if profile is not None:
        wait_log(worker, b"Starting...", 60, start_at=start_at)  # the interpreter is up
        spy = start_pyspy(worker.process.pid, profile, rate=50)
    seen, stamped = wait_log(worker, b"Worker ready", timeout, start_at=start_at)
    if spy is not None:
        output = stop_pyspy(spy)
        if profile is not None and profile.exists():
            print(f"  py-spy from start to Worker ready ({profile}):")
            print("    " + summarise_pyspy(profile, top=12).replace("\n", "\n    "))
        else:
            print(f"  py-spy wrote nothing: {output[-500:]}")
    ready = stamped or seen
    marks = log_marks(log_path, start_at)
    restore = marks.get("Restoring state from changelog topics")
    result = {
        "worker": worker,
        "start_to_ready_s": ready - started,
        "restore_to_ready_s": None if restore is None else ready - restore,
        "marks": {name: stamp - started for name, stamp in marks.items()},
    }
    result["rss_kib"] = settle_rss(worker.process.pid)
    return result


def read_changelog(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of the app's changelog, latest value per key."""
    from kafka import KafkaConsumer, TopicPartition

    topic = changelog_topic(settings)
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        rows: dict[bytes, bytes] = {}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500, max_records=10000).values():
                for r in records:
                    if r.key is not None and r.value is not None:
                        rows[r.key] = r.value
        return list(rows.items())
    finally:
        consumer.close()


def clone_rows(rows: list[tuple[bytes, bytes]], count: int,
               partitions: int) -> Iterator[tuple[int, bytes, bytes]]:
    """``count`` changelog records made of ``rows`` under new customer ids."""
    for i in range(count):
        _, value = rows[i % len(rows)]
        state = orjson.loads(value)
        cid = f"clone-{i:07d}"
        state[1] = cid  # [format, customer_id, ...] (scorers.state.CustomerState.to_bytes)
        key = cid.encode()
        yield partition_for(key, partitions), key, orjson.dumps(state)


async def produce_changelog(settings: Settings, records: Any) -> tuple[int, float]:
    from aiokafka import AIOKafkaProducer

    from streams.kafka_clients import aiokafka_client_config

    topic = changelog_topic(settings)
    producer = AIOKafkaProducer(acks=1, linger_ms=20, max_batch_size=512 * 1024,
                                **aiokafka_client_config(settings.kafka))
    await producer.start()
    started = time.perf_counter()
    count = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for partition, key, value in records:
            pending.append(await producer.send(topic, value, key=key, partition=partition))
            count += 1
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count, time.perf_counter() - started


def parse_variants(text: str) -> list[tuple[str, dict[str, str]]]:
    """``name:KEY=VALUE,KEY=VALUE;name2:...`` -> [(name, env), ...]."""
    out: list[tuple[str, dict[str, str]]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, _, assignments = part.partition(":")
        env = dict(a.split("=", 1) for a in filter(None, assignments.split(",")))
        out.append((name.strip(), env))
    return out


def run_variants(base: Settings, run: str, work: Path, rows: list[tuple[bytes, bytes]],
                 args: argparse.Namespace, idle: int) -> dict[str, Any]:
    """Recover one cloned changelog with each variant's environment, alternating."""
    variants = parse_variants(args.variants)
    scaled = app_settings(base, f"bench-{run}-in3", f"bench-{run}-var", work)
    create_topics(scaled, [changelog_topic(scaled)], scaled.topics.partitions,
                  {changelog_topic(scaled): {"cleanup.policy": "compact"}})
    count, seconds = asyncio.run(produce_changelog(
        scaled, clone_rows(rows, args.variant_rows, scaled.topics.partitions)))
    print(f"\nvariants: wrote {count} cloned state rows in {seconds:.0f} s; "
          f"{args.rounds} rounds of {[name for name, _ in variants]}; {machine_load()}")
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    runs = 0

    def one(name: str, env: dict[str, str], counted: bool) -> None:
        nonlocal runs
        runs += 1
        env = dict(env)
        label = env.pop("DATADIR", None)
        data_dir = work / (f"var-dir-{label}" if label else f"var-run-{runs}")
        settings = scaled.override(data_dir=str(data_dir))
        load = machine_load()
        try:
            rec = start_and_recover(settings, work / f"worker-var-{runs}-{name}.log",
                                    args.recovery_timeout, extra_env=env)
        except (RuntimeError, TimeoutError) as exc:
            print(f"  {name}: FAILED: {str(exc)[-1500:]}")
            return
        try:
            restore = rec["marks"].get("Restoring state from changelog topics")
            done = rec["marks"].get("Done reading from changelog topics")
            figures = {"start_to_ready_s": rec["start_to_ready_s"],
                       "read_s": float("nan") if restore is None or done is None
                       else done - restore,
                       "rss_kib": rec["rss_kib"]}
            print(f"  {'' if counted else '(priming, not counted) '}{name}: start -> ready "
                  f"{figures['start_to_ready_s']:.1f} s, changelog read "
                  f"{figures['read_s']:.1f} s, {count / figures['start_to_ready_s']:,.0f} "
                  f"rows/s, RSS {rec['rss_kib'] / 1024:.1f} MiB "
                  f"({(rec['rss_kib'] - idle) * 1024 / count:,.0f} B per customer); {load}")
            if counted:
                results[name].append(figures)
        finally:
            rec["worker"].stop(timeout=60)

    for name, env in variants:
        if "DATADIR" in env:
            one(name, env, counted=False)
    for _ in range(args.rounds):
        for name, env in variants:
            one(name, env, counted=True)
    first = variants[0][0]
    base_mean = sum(r["start_to_ready_s"] for r in results[first]) / len(results[first])
    print(f"\nvariants, mean start -> ready over {args.rounds} rounds "
          f"(ratio to {first}; < 1 is faster):")
    summary: dict[str, Any] = {}
    for name, env in variants:
        times = [r["start_to_ready_s"] for r in results[name]]
        if not times:
            continue
        mean = sum(times) / len(times)
        summary[name] = {"env": env, "runs": results[name], "mean_s": mean,
                         "ratio": mean / base_mean}
        print(f"  {name:>12}: {mean:6.1f} s ({', '.join(f'{t:.1f}' for t in times)}) "
              f"ratio {mean / base_mean:.2f}; {count / mean:,.0f} rows/s; env {env}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--budget", type=float, default=300.0,
                        help="seconds phase 1 may score before it counts what it scored")
    parser.add_argument("--clone-to", default="1000000",
                        help="comma list of table sizes for phase 3 (0: skip), e.g. 100000,300000")
    parser.add_argument("--recovery-timeout", type=float, default=600.0)
    parser.add_argument("--profile-recovery", action="store_true",
                        help="py-spy the phase 3 recoveries (start -> Worker ready)")
    parser.add_argument("--skip-phase2", action="store_true")
    parser.add_argument("--variants", default="",
                        help="recovery variants, alternated: 'base:;buf:STREAM_BUFFER_MAXSIZE="
                             "65536;...' (see the module docstring)")
    parser.add_argument("--variant-rows", type=int, default=100_000)
    parser.add_argument("--clone-rows-file", type=Path, default=None,
                        help="pickled [(key, value), ...] state rows to clone in phase 3 and "
                             "the variants instead of phase 1's one-event rows (e.g. rows "
                             "after a longer simulated history)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args(argv)

    base = base_settings()
    run = new_run_id("mem")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    settings = app_settings(base, f"bench-{run}-in", f"bench-{run}-app", work)
    print(f"run {run}; broker {base.kafka.bootstrap}; {base.topics.partitions} partitions; "
          f"work dir {work}; {machine_load()}")
    create_topics(settings, list(settings.topics.inputs), settings.topics.partitions)
    log1 = work / "worker-1.log"
    figures: dict[str, Any] = {}
    try:
        # ---------------------------------------------------------------- phase 1
        worker = WorkerProcess(settings, log1).start()
        assert worker.process is not None
        pid = worker.process.pid
        try:
            wait_log(worker, b"Worker ready", 180)
            idle = settle_rss(pid, 5.0)
            print(f"\nphase 1: idle worker RSS {idle / 1024:.1f} MiB")
            start_ms = time.time_ns() // 1_000_000 - 2 * 86_400_000
            items = ((topic_name(settings, m.topic), m.key, m.value)
                     for m in one_event_each(args.customers, start_ms))
            count, seconds = asyncio.run(produce(settings, items))
            produced_at = time.time()
            print(f"  produced {count} events (one per customer) in {seconds:.1f} s")
            lag = count
            deadline = produced_at + args.budget
            while time.time() < deadline:
                lag = group_lag(settings, list(settings.topics.inputs))
                if lag == 0:
                    break
                time.sleep(2.0)
            scored = count - lag
            elapsed = time.time() - produced_at
            loaded = settle_rss(pid, 5.0)
            per = (loaded - idle) * 1024 / max(1, scored)
            budget_note = "" if lag == 0 else f" (budget hit; {lag} not scored yet)"
            print(f"  scored {scored} customers in {elapsed:.0f} s{budget_note}; RSS "
                  f"{loaded / 1024:.1f} MiB -> {per:,.0f} bytes per customer "
                  f"(target <= 1,024)")
            figures["phase1"] = {"idle_kib": idle, "loaded_kib": loaded, "customers": scored,
                                 "bytes_per_customer": per, "seconds": elapsed}
        finally:
            worker.stop(timeout=60)
        rows = read_changelog(settings)
        sizes = sorted(len(v) for _, v in rows)
        if sizes:
            print(f"  changelog: {len(rows)} rows; state bytes p50 {sizes[len(sizes) // 2]}, "
                  f"max {sizes[-1]}")

        # ---------------------------------------------------------------- phase 2
        if not args.skip_phase2:
            fresh = app_settings(base, f"bench-{run}-in", f"bench-{run}-app", work / "fresh",
                                 web_port=settings.web.port)
            rec = start_and_recover(fresh, work / "worker-2.log", args.recovery_timeout)
            try:
                per = (rec["rss_kib"] - idle) * 1024 / max(1, len(rows))
                print(f"\nphase 2: recovery of {len(rows)} customers: start -> Worker ready "
                      f"{rec['start_to_ready_s']:.1f} s; restore -> ready "
                      f"{rec['restore_to_ready_s'] or float('nan'):.1f} s; RSS "
                      f"{rec['rss_kib'] / 1024:.1f} MiB -> {per:,.0f} bytes per customer")
                print("  milestones (s after start): "
                      + ", ".join(f"{k} {v:.1f}" for k, v in rec["marks"].items()))
                figures["phase2"] = {k: v for k, v in rec.items() if k != "worker"}
                figures["phase2"]["bytes_per_customer"] = per
            finally:
                rec["worker"].stop(timeout=60)

        if args.clone_rows_file is not None:
            import pickle

            rows = pickle.loads(args.clone_rows_file.read_bytes())
            sizes = sorted(len(v) for _, v in rows)
            print(f"\ncloning {len(rows)} rows of {args.clone_rows_file}: state bytes p50 "
                  f"{sizes[len(sizes) // 2]}, mean {sum(sizes) / len(sizes):.0f}, "
                  f"max {sizes[-1]}")

        # ---------------------------------------------------------------- phase 3
        sizes3 = [int(x) for x in str(args.clone_to).split(",") if int(x) > 0]
        scaled_runs: list[tuple[int, float, int]] = []
        for n, size in enumerate(sizes3 if rows else []):
            # Empty inputs of its own: the worker only recovers, it has nothing to score.
            scaled = app_settings(base, f"bench-{run}-in3", f"bench-{run}-big{n}", work)
            # The worker's own topic check creates the rest; the changelog is filled first.
            create_topics(scaled, [changelog_topic(scaled)], scaled.topics.partitions,
                          {changelog_topic(scaled): {"cleanup.policy": "compact"}})
            count, seconds = asyncio.run(produce_changelog(
                scaled, clone_rows(rows, size, scaled.topics.partitions)))
            total = end_offsets_total(scaled, [changelog_topic(scaled)])
            print(f"\nphase 3: wrote {count} cloned state rows to a fresh changelog in "
                  f"{seconds:.0f} s ({total} records in it); {machine_load()}")
            rec = start_and_recover(
                scaled, work / f"worker-3-{n}.log", args.recovery_timeout,
                profile=work / f"recovery-{count}.pyspy.txt" if args.profile_recovery else None)
            try:
                per = (rec["rss_kib"] - idle) * 1024 / count
                print(f"  recovery of {count} customers: start -> Worker ready "
                      f"{rec['start_to_ready_s']:.1f} s; restore -> ready "
                      f"{rec['restore_to_ready_s'] or float('nan'):.1f} s")
                print("  milestones (s after start): "
                      + ", ".join(f"{k} {v:.1f}" for k, v in rec["marks"].items()))
                print(f"  RSS {rec['rss_kib'] / 1024:.1f} MiB -> {per:,.0f} bytes per customer "
                      f"at {count} customers (RSS - idle RSS) / customers")
                figures[f"phase3_{count}"] = {k: v for k, v in rec.items() if k != "worker"}
                figures[f"phase3_{count}"]["bytes_per_customer"] = per
                scaled_runs.append((count, rec["start_to_ready_s"], rec["rss_kib"]))
            finally:
                rec["worker"].stop(timeout=60)
        if len(scaled_runs) >= 2:
            (n1, t1, r1), (n2, t2, r2) = scaled_runs[0], scaled_runs[-1]
            slope_t = (t2 - t1) / (n2 - n1)
            slope_r = (r2 - r1) * 1024 / (n2 - n1)
            target = 1_000_000
            print(f"\nEXTRAPOLATED from {n1} and {n2} customers (linear): recovery "
                  f"{slope_t * 1e6:.1f} s per million customers -> about "
                  f"{t2 + slope_t * (target - n2):.0f} s at {target:,} (target < 60 s); marginal "
                  f"RSS {slope_r:,.0f} bytes per customer -> about "
                  f"{(r2 * 1024 + slope_r * (target - n2)) / 2**20:,.0f} MiB at {target:,} "
                  f"(target <= 1,024 bytes per customer)")
            figures["extrapolated"] = {"recovery_s_per_million": slope_t * 1e6,
                                       "marginal_bytes_per_customer": slope_r}
        if args.variants and rows:
            figures["variants"] = run_variants(base, run, work, rows, args,
                                               figures["phase1"]["idle_kib"])
    finally:
        if not args.keep_topics:
            cleanup_topics(base, f"bench-{run}")
    print(f"\n{machine_load()}")
    print(orjson.dumps(figures, default=str).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
