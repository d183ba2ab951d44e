"""Offline replay speed: ``relscore score``'s path against a minimal rolling score, one CPU.

    python bench/bench_replay.py [--events 100000 --customers 10000] [--file F.jsonl]
                                 [--rounds 2] [--tree OLD_CHECKOUT]

Every phase runs in its own child process pinned to the same CPU, over the same JSONL file,
alternated for ``--rounds`` rounds (the machine is shared: compare within a run):

- (m) minimal: decode each line with orjson and update a row of ~20 decayed floats per
  customer with ``bench/quix_peer.py``'s ``update`` (the peer's own rolling score); no
  validation, no schedule, no messages. The floor issue #12 measures the replay against.
- (p) relscore, pure Python: ``streams.tools.offline_scoring.score_lines``, as ``relscore
  score`` runs it (validation, the model, due-time re-scores, score messages and alerts).
- (k) relscore on the compiled build (``make compiled``, ``PYTHONPATH=.compiled``).
- (o) with ``--tree``: relscore from another checkout (an older commit, say), pure Python.

It prints events/s, each relscore phase as a share of (m), decay re-scores per event, and a
digest of the alerts and last scores of every relscore phase: equal digests, equal outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
COMPILED = ROOT / ".compiled"


def _child(mode: str, path: Path) -> dict[str, Any]:
    """Runs in the child: one pass of ``mode`` over ``path``."""
    import orjson

    lines = path.read_bytes().splitlines()
    if mode == "m":
        sys.path.insert(0, str(BENCH))
        from quix_peer import ROW, update

        rows: dict[str, list[float]] = {}
        started = time.perf_counter()
        cpu0 = time.process_time()
        events = 0
        for line in lines:
            try:
                event = orjson.loads(line)
                row = rows.get(event["customer_id"])
                if row is None:
                    row = rows[event["customer_id"]] = [0.0] * ROW
                update(row, event)
                events += 1
            except (ValueError, KeyError, TypeError, ZeroDivisionError):
                continue
        return {"events": events, "seconds": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu0, "build": "minimal"}
    import scorers.model
    import streams.tools.offline_scoring as offline
    from scorers.config import DEFAULT_CONFIG

    sys.path.insert(0, str(BENCH))
    from _call_counter import count_calls

    rescores = count_calls(offline, "rescore")
    # As `relscore score` runs it (a checkout older than ad2bd38 has no collector tuning).
    if importlib.util.find_spec("streams.runtime.garbage_collection") is not None:
        from streams.runtime.garbage_collection import tune_for_long_lived_states

        tune_for_long_lived_states()
    started = time.perf_counter()
    cpu0 = time.process_time()
    result = offline.score_lines(lines, DEFAULT_CONFIG, reference_ms=None)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu0
    digest = hashlib.sha256()
    for alert in result.alerts:
        digest.update(orjson.dumps(alert, option=orjson.OPT_SORT_KEYS))
    for customer in sorted(result.scores):
        digest.update(orjson.dumps(result.scores[customer], option=orjson.OPT_SORT_KEYS))
    model_file = str(scorers.model.__file__)
    return {"events": result.events, "seconds": seconds, "cpu_s": cpu_s,
            "rescores": rescores(), "alerts": len(result.alerts),
            "digest": digest.hexdigest()[:16],
            "build": "compiled" if model_file.endswith(".so") else "pure",
            "model": model_file}


def _run(mode: str, path: Path, cpu: int, pythonpath: str | None) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = ["taskset", "-c", str(cpu), sys.executable, "-P", __file__, "--child", mode,
               str(path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"phase {mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--file", type=Path, help="a JSONL file instead of simulated data")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tree", help="another checkout to measure beside this one (o)")
    parser.add_argument("--skip", default="", help="phases to skip, e.g. k,o")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    path = args.file
    if path is None:
        sys.path.insert(0, str(BENCH))
        from _stackbench import simulated_messages, write_jsonl

        messages, described = simulated_messages(args.customers, args.events, args.seed)
        path = Path(f"/tmp/relscore-bench-cache/replay-{args.customers}-{args.events}-"
                    f"{args.seed}.jsonl")
        write_jsonl(path, messages)
        print(f"data: {described}")
    cpu = max(os.sched_getaffinity(0))
    phases: dict[str, str | None] = {"m": None, "p": None}
    if "k" not in skip:
        if (COMPILED / ".built").exists():
            phases["k"] = str(COMPILED)
        else:
            print("(k) skipped: no compiled build (make compiled)")
    if args.tree and "o" not in skip:
        phases["o"] = str(Path(args.tree).resolve())
    names = {"m": "minimal rolling score", "p": "relscore, pure Python",
             "k": "relscore, compiled", "o": f"relscore at {args.tree}"}
    print(f"file {path}; one CPU ({cpu}); {args.rounds} rounds of {', '.join(phases)}")
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in phases}
    for round_number in range(1, args.rounds + 1):
        for mode, pythonpath in phases.items():
            result = _run(mode, path, cpu, pythonpath)
            results[mode].append(result)
            rate = result["events"] / result["seconds"]
            extra = ""
            if "rescores" in result:
                extra = (f"; {result['rescores'] / max(1, result['events']):.2f} decay "
                         f"re-scores/event, {result['alerts']} alerts, digest "
                         f"{result['digest']} ({result['build']})")
            print(f"round {round_number} ({mode}) {names[mode]:24s}: {result['events']} events "
                  f"in {result['seconds']:6.2f} s = {rate:9,.0f}/s{extra}")
    print()
    median = {mode: statistics.median(r["events"] / r["seconds"] for r in runs)
              for mode, runs in results.items()}
    for mode, rate in median.items():
        share = f" = {rate / median['m']:.1%} of (m)" if mode != "m" else ""
        ratio = f", {rate / median['o']:.2f}x (o)" if "o" in median and mode not in "mo" else ""
        print(f"median ({mode}) {names[mode]:24s}: {rate:9,.0f} events/s{share}{ratio}")
    digests = {mode: {r["digest"] for r in runs} for mode, runs in results.items() if mode != "m"}
    if "k" in digests:
        same = digests["k"] == digests["p"]
        print(f"compiled outputs {'identical to' if same else 'DIFFER from'} pure Python's")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], Path(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
