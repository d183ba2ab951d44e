"""Per-call cost of the model's pieces, and of cheaper variants, measured side by side.

    .venv/bin/python bench/bench_model_parts.py [--customers 2000] [--events 20000]

Builds real customer states by scoring a simulated population, then times (best of 5) the
pieces one scored event pays for: decode and validate, state decode/copy/encode, evaluate (per
component), next_check_ms, the score message, Prometheus label lookups; and, beside each, the
variant a proposal suggests (bench/README-pipeline.md), so the expected gain is measured on
the same machine in the same run. No Kafka needed.
"""

from __future__ import annotations

import argparse
import operator
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _stackbench import simulated_messages

from scorers.config import COMPONENTS, load_config
from scorers.events import InvalidEvent, decode_event, normalise_customer_id
from scorers.model import _COMPONENT_FUNCTIONS, evaluate
from scorers.schedule import next_check_ms
from scorers.scorer import apply_event, score_message
from scorers.state import _FIELD_NAMES, STATE_FORMAT, CustomerState
from scorers.timefmt import format_ms

KINDS = {"purchases": "purchase", "support-tickets": "ticket", "interactions": "interaction"}


def per_call_us(fn: Callable[[], Any], calls: int, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=1, repeat=repeat)) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--rescores", action="store_true",
                        help="also count decay re-scores in a replay, and try a level variant")
    args = parser.parse_args(argv)

    cfg = load_config(None)
    messages, described = simulated_messages(args.customers, args.events)
    print(f"data: {described}")
    states: dict[str, CustomerState] = {}
    events = []
    for m in messages:
        try:
            event = decode_event(KINDS[m.topic], m.value, reference_ms=None)
        except InvalidEvent:
            continue
        events.append((m, event))
        state, outputs = apply_event(states.get(event.customer_id), event, cfg)
        if not outputs.duplicate:
            states[event.customer_id] = state
    n = args.sample
    sample = list(states.values())[:n]
    blobs = [s.to_bytes() for s in sample]
    at = [s.ref_ts + 3_600_000 for s in sample]
    evaluations = [evaluate(s, a, cfg) for s, a in zip(sample, at, strict=True)]
    raw = [(KINDS[m.topic], m.value) for m, _ in events[:n]]
    ids = [e.customer_id for _, e in events[:n]]
    sizes = sorted(len(b) for b in blobs)
    print(f"{len(states)} customer states; encoded size p50 {sizes[len(sizes) // 2]} B, "
          f"max {sizes[-1]} B")
    base = per_call_us(lambda: sum(range(1000)), 1)
    print(f"machine speed: sum(range(1000)) = {base:.1f} us (about 8-10 us on an idle x86)\n")

    getter = operator.attrgetter(*_FIELD_NAMES)

    def to_bytes_attrgetter(s: CustomerState) -> bytes:
        return orjson.dumps((STATE_FORMAT, *getter(s)))

    assert all(to_bytes_attrgetter(s) == s.to_bytes() for s in sample)

    def normalise_ascii_fast(value: str) -> str:
        if value.isascii() and value.isprintable():
            return value  # NFC and control checks cannot change or refuse printable ASCII
        return normalise_customer_id(value)

    from streams.runtime import metrics

    child = metrics.EVENTS.labels("bench", "scored")

    rows: list[tuple[str, float, str, float | None]] = [
        ("decode_event (parse + validate)",
         per_call_us(lambda: [decode_event(k, v, reference_ms=None) for k, v in raw], n),
         "", None),
        ("normalise_customer_id", per_call_us(lambda: [normalise_customer_id(v) for v in ids], n),
         "ASCII fast path", per_call_us(lambda: [normalise_ascii_fast(v) for v in ids], n)),
        ("CustomerState.from_bytes", per_call_us(
            lambda: [CustomerState.from_bytes(b) for b in blobs], n), "", None),
        ("CustomerState.copy", per_call_us(lambda: [s.copy() for s in sample], n),
         "no copy (caller owns the decoded state)", 0.0),
        ("CustomerState.to_bytes", per_call_us(lambda: [s.to_bytes() for s in sample], n),
         "attrgetter tuple", per_call_us(lambda: [to_bytes_attrgetter(s) for s in sample], n)),
        ("evaluate", per_call_us(
            lambda: [evaluate(s, a, cfg) for s, a in zip(sample, at, strict=True)], n), "", None),
    ]
    for name in COMPONENTS:
        fn = _COMPONENT_FUNCTIONS[name]
        rows.append((f"  {name}_component", per_call_us(
            lambda fn=fn: [fn(s, max(a, s.ref_ts), cfg) for s, a in zip(sample, at, strict=True)],
            n), "", None))
    rows += [
        ("next_check_ms", per_call_us(
            lambda: [next_check_ms(s, e, cfg) for s, e in zip(sample, evaluations, strict=True)],
            n), "", None),
        ("score_message (dict)", per_call_us(
            lambda: [score_message(s, e, 70.0, 69.0, "event", cfg)
                     for s, e in zip(sample, evaluations, strict=True)], n), "", None),
        ("format_ms (as_of)", per_call_us(lambda: [format_ms(a) for a in at], n), "", None),
        ("orjson.dumps(score message)", per_call_us(
            lambda: [orjson.dumps(score_message(s, e, 70.0, 69.0, "event", cfg))
                     for s, e in zip(sample, evaluations, strict=True)], n), "", None),
        ("metric.labels(...).inc()", per_call_us(
            lambda: [metrics.EVENTS.labels("bench", "scored").inc() for _ in range(n)], n),
         "cached child .inc()", per_call_us(lambda: [child.inc() for _ in range(n)], n)),
    ]
    print(f"{'piece':<36} {'us/call':>9}   {'variant':<40} {'us/call':>9}")
    for name, cost, variant, variant_cost in rows:
        right = "" if variant_cost is None else f"{variant:<40} {variant_cost:9.1f}"
        print(f"{name:<36} {cost:9.1f}   {right}")

    # Memory a table row really takes: orjson over-allocates the bytes it returns.
    tracemalloc.start()
    kept = [s.to_bytes() for s in sample]
    plain = tracemalloc.get_traced_memory()[0] / n
    del kept
    tracemalloc.stop()
    tracemalloc.start()
    kept = [memoryview(s.to_bytes()).tobytes() for s in sample]
    trimmed = tracemalloc.get_traced_memory()[0] / n
    del kept
    tracemalloc.stop()
    print(f"\nmemory held per kept row (tracemalloc): to_bytes() {plain:,.0f} B, "
          f"memoryview(to_bytes()).tobytes() {trimmed:,.0f} B (row length p50 "
          f"{sizes[len(sizes) // 2]} B)")
    if args.rescores:
        rescore_volume(messages, cfg)
    return 0


def rescore_volume(messages: list[Any], cfg: Any) -> None:
    """How many decay re-scores a replay makes, what they find, and a variant of the levels."""
    import collections

    import scorers.schedule as schedule
    import scorers.scorer as scorer
    import streams.tools.offline_scoring as offline
    from scorers.model import band_of

    lines = [m.line for m in messages]
    real_levels, real_rescore, real_next = schedule._levels, offline.rescore, scorer.next_check_ms
    found: collections.Counter[str] = collections.Counter()
    steps: collections.Counter[str] = collections.Counter()

    def classify(state: Any, at: int, cfg_: Any) -> Any:
        new, out = real_rescore(state, at, cfg_)
        found["re-scores"] += 1
        if out.scores:
            found["with a score message"] += 1
            if state.score is not None and band_of(state.score) != out.scores[-1]["band"]:
                found["band changes"] += 1
        if out.alerts:
            found["with an alert"] += 1
        return new, out

    def step_of(s: Any, evaluation: Any, cfg_: Any) -> int:
        due = real_next(s, evaluation, cfg_)
        minutes = (due - evaluation.as_of) / 60_000
        label = ("<= 1 min" if minutes <= 1 else "<= 10 min" if minutes <= 10 else
                 "<= 1 h" if minutes <= 60 else "<= 1 day" if minutes <= 1440 else "> 1 day")
        steps[label] += 1
        return due

    def levels_when_armed(s: Any, cfg_: Any, at: int) -> list[float]:
        a = cfg_.alerts
        levels = [floor for floor, _ in schedule.BANDS] + [a.threshold, a.critical_below]
        if s.below:
            levels.append(a.threshold + a.hysteresis)
        window = [p for p in s.drop_window if p[0] >= at - a.sharp_drop_window_ms]
        if window:
            levels.append(window[0][1] - a.sharp_drop_points)
        return levels

    print("\ndecay re-scores in an offline replay (streams.tools.offline_scoring.score_lines):")
    results = {}
    try:
        offline.rescore = classify
        scorer.next_check_ms = step_of
        result = offline.score_lines(lines, cfg, reference_ms=None)
        total = sum(steps.values())
        print(f"  {result.events} scored events; {dict(found)}; "
              f"{found['re-scores'] / max(1, result.events):.2f} re-scores per scored event")
        print("  due-time steps: " + ", ".join(
            f"{k} {v / total:.0%}" for k, v in sorted(steps.items())))
        scorer.next_check_ms = real_next
        for label, levels in (("levels as they are", real_levels),
                              ("re-arm level only while below", levels_when_armed)):
            schedule._levels = levels
            count = 0

            def counting(*a: Any, **k: Any) -> Any:
                nonlocal count
                count += 1
                return real_rescore(*a, **k)

            offline.rescore = counting
            cpu = time.process_time()
            r = offline.score_lines(lines, cfg, reference_ms=None)
            cpu = time.process_time() - cpu
            results[label] = r
            print(f"  {label:<30}: {count} re-scores, {len(r.alerts)} alerts, "
                  f"{r.events / cpu:,.0f} events per CPU-s")
    finally:
        schedule._levels, offline.rescore, scorer.next_check_ms = (
            real_levels, real_rescore, real_next)
    a, b = results.values()
    keys_a = sorted((x["customer_id"], x["type"]) for x in a.alerts)
    keys_b = sorted((x["customer_id"], x["type"]) for x in b.alerts)
    moved = len({(x["customer_id"], x["type"], x["as_of"]) for x in a.alerts}
                ^ {(x["customer_id"], x["type"], x["as_of"]) for x in b.alerts}) // 2
    print(f"  same (customer, alert type) set: {keys_a == keys_b}; alerts at another as_of: "
          f"about {moved}")


if __name__ == "__main__":
    sys.exit(main())
