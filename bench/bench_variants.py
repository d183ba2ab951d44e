"""Worker throughput under configuration variants, side by side on the same pre-loaded topics.

    .venv/bin/python bench/bench_variants.py [--events 60000] [--customers 6000]
        [--budget 60] [--rounds 2]
        --variant base: --variant linger:PRODUCER_LINGER=0.005 ...

Each ``--variant NAME:ENV=VALUE,ENV=VALUE`` runs one ``relscore worker`` with those extra
environment variables (``RELSCORE_*`` settings or Faust's own, e.g. ``PRODUCER_LINGER``) over
the same pre-loaded input topics, from the start, with a fresh app id. Variants alternate
(A B C A B C ...) for ``--rounds`` rounds so that the machine's drift hits them alike; the
rate of each run is over the prefix it scored within ``--budget`` seconds from "Worker
ready". Prints events/s and CPU-ms per event for each run and each variant's median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stackbench import (
    app_settings,
    base_settings,
    cleanup_topics,
    end_offsets_total,
    machine_load,
    new_run_id,
    preload,
    simulated_messages,
)
from bench_pipeline import relscore_worker


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``NAME:ENV=VALUE,ENV=VALUE`` (the part after ``:`` may be empty)."""
    name, _, spec = text.partition(":")
    env: dict[str, str] = {}
    for item in filter(None, spec.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"variant {text!r}: {item!r} is not ENV=VALUE")
        env[key] = value
    return name, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--customers", type=int, default=6_000)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", action="append", required=True)
    args = parser.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]

    base = base_settings()
    run = new_run_id("var")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    inputs = f"bench-{run}-in"
    first = app_settings(base, inputs, f"bench-{run}-app", work)
    messages, described = simulated_messages(args.customers, args.events)
    print(f"run {run}; data: {described}")
    print(f"machine: {machine_load()}")
    count, seconds = preload(first, messages)
    total = end_offsets_total(first, list(first.topics.inputs))
    print(f"pre-loaded {count} messages in {seconds:.1f} s")
    rates: dict[str, list[float]] = {name: [] for name, _ in variants}
    cpu_ms: dict[str, list[float]] = {name: [] for name, _ in variants}
    try:
        for round_no in range(args.rounds):
            for index, (name, env) in enumerate(variants):
                app_id = f"bench-{run}-{round_no}-{index}"
                settings = app_settings(base, inputs, app_id, work)
                result: dict[str, Any] = relscore_worker(settings, work, total, args.budget,
                                                         1.0, env)
                per_event = result["cpu_s"] / max(1, result["events"]) * 1000
                rates[name].append(result["rate"])
                cpu_ms[name].append(per_event)
                print(f"round {round_no} {name:>12}: {result['events']:>7} events in "
                      f"{result['seconds']:5.1f} s = {result['rate']:7,.0f}/s, "
                      f"{per_event:.2f} CPU-ms per event; {machine_load()}", flush=True)
        reference = statistics.median(rates[variants[0][0]])
        print("\nvariant        median events/s  vs first  median CPU-ms/event")
        for name, _ in variants:
            rate = statistics.median(rates[name])
            print(f"{name:>12} {rate:16,.0f} {rate / reference:9.2f}x "
                  f"{statistics.median(cpu_ms[name]):14.2f}")
    finally:
        cleanup_topics(base, f"bench-{run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
