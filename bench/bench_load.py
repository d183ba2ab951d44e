"""Sustained load: does the worker's input lag plateau and its memory stay flat?

    .venv/bin/python bench/bench_load.py [--rate 300,600] [--duration 300] [--warmup 60]
        [--customers 100000] [--preload-customers N] [--sample 5] [--drain 20]
        [--json-out FILE]

A script, not a test: it prints one line per sample and a verdict per rate. ``--rate`` takes
a comma list; each rate runs in turn on a fresh worker with fresh topics (``bench-<run>-<n>-``),
consumer group and data directory, so one run puts several rates side by side.

Per rate:

1. Preload (``--preload-customers``, default all ``--customers``): one event per customer,
   produced as fast as the broker takes it; the script waits until the worker has committed
   them all, so the table holds every customer before the measured window (time reported).
2. Window: events are produced open loop at ``--rate`` events/s for ``--duration`` seconds,
   whatever the worker does (paced in 1 ms steps). Customers are taken round robin over a
   shuffled order (reshuffled every pass), so every customer is touched at the same pace.
   Event time = send time (within the worker's lateness and future-skew rules). The first
   ``--warmup`` seconds are the warm-up; the rest is split in two halves.
3. Every ``--sample`` seconds: elapsed time, events produced, input lag of the worker's group
   (end offsets - committed offsets of the three input topics), worker RSS and CPU seconds
   (/proc), score messages published (end offsets of the score topic), customers in the table
   (``relscore_customers`` summed over bands) and the Redis projector's lag.
4. Verdict: lag slope (least squares, records/s) over each half after the warm-up; the lag
   **plateaus** when the second half's |slope| < ``PLATEAU_SHARE`` of the rate. RSS at the
   warm-up end and at the end; memory is **flat** when the growth net of new customers (new
   customers x the RSS per customer measured during the preload) is < ``FLAT_SHARE`` of the
   RSS at the warm-up end. Achieved produce rate, the worker's consumed rate (committed
   offsets), its scored events (``relscore_events_total``) and CPU per event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _stackbench import (
    app_settings,
    base_settings,
    cleanup_topics,
    cpu_seconds,
    create_topics,
    free_port,
    machine_load,
    new_run_id,
    produce,
    rss_kib,
    synthetic_event,
    topic_name,
    wait_log,
)

from streams.kafka_clients import aiokafka_client_config, kafka_client_config
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings

PLATEAU_SHARE = 0.02  # |lag slope| in the second half below 2% of the rate: plateau
FLAT_SHARE = 0.05  # RSS growth net of new customers below 5% of the warm-up RSS: flat
MIB = 1024.0


# ------------------------------------------------------------------ probes


class Probe:
    """Kafka offsets of one worker: input end offsets, its committed offsets, the score
    topic's end offsets and the Redis projector's committed offsets (kafka-python clients
    kept open across samples)."""

    def __init__(self, settings: Settings) -> None:
        from kafka import KafkaConsumer
        from kafka.admin import KafkaAdminClient

        self.settings = settings
        self.admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
        self.consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                                      **kafka_client_config(settings.kafka))
        self.partitions: dict[str, list[Any]] = {}

    def close(self) -> None:
        """Close both clients."""
        with contextlib.suppress(Exception):
            self.consumer.close()
        with contextlib.suppress(Exception):
            self.admin.close()

    def _tps(self, topic: str) -> list[Any]:
        from kafka import TopicPartition

        if not self.partitions.get(topic):
            ids = self.consumer.partitions_for_topic(topic) or set()
            self.partitions[topic] = [TopicPartition(topic, p) for p in sorted(ids)]
        return self.partitions[topic]

    def _committed(self, group: str, tps: Sequence[Any]) -> int:
        offsets = self.admin.list_group_offsets(group).get(group, {})
        total = 0
        for tp in tps:
            meta = offsets.get(tp)
            total += max(0, meta.offset) if meta is not None else 0
        return total

    def offsets(self) -> dict[str, int]:
        """``inputs_end``, ``committed`` (worker group, inputs), ``scores_end`` and
        ``projected`` (Redis projector group, score topic)."""
        inputs = [tp for topic in self.settings.topics.inputs for tp in self._tps(topic)]
        scores = self._tps(self.settings.topics.scores)
        committed = self._committed(self.settings.worker.app_id, inputs)
        projected = self._committed(f"{self.settings.worker.app_id}-redis-projector", scores)
        ends = self.consumer.end_offsets([*inputs, *scores])
        return {
            "inputs_end": sum(ends[tp] for tp in inputs),
            "committed": committed,
            "scores_end": sum(ends[tp] for tp in scores),
            "projected": projected,
        }

    def lag(self) -> int:
        """Input records the worker group has not committed."""
        found = self.offsets()
        return found["inputs_end"] - found["committed"]


_METRIC = re.compile(r"^(relscore_[a-z_]+?)(?:_total)?(?:\{(.*)\})? (\S+)$")


def scrape_metrics(port: int, timeout: float = 5.0) -> dict[str, float]:
    """The worker's relscore_* counters and gauges summed over their labels, plus
    ``events:<outcome>`` and ``score_updates:<reason>``; {} when /metrics does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC.match(line)
        if not match or match[1].endswith(("_bucket", "_created")):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        value = float(match[3])
        out[match[1]] = out.get(match[1], 0.0) + value
        if match[1] == "relscore_events":
            key = f"events:{labels.get('outcome')}"
            out[key] = out.get(key, 0.0) + value
        elif match[1] == "relscore_score_updates":
            key = f"score_updates:{labels.get('reason')}"
            out[key] = out.get(key, 0.0) + value
    return out


# ------------------------------------------------------------------ samples


@dataclass(slots=True)
class Sample:
    """One sample of the measured window (``t`` seconds after it started)."""

    t: float
    produced: int
    lag: int
    committed: int
    rss_kib: int
    cpu_s: float
    scores: int
    projector_lag: int
    customers: float
    scheduled: float
    events: float
    decay_updates: float


@dataclass
class Counter:
    """Events the window's producer has sent so far (read by the sampler thread)."""

    sent: int = 0


class Sampler(threading.Thread):
    """Takes a :class:`Sample` every ``period`` seconds until stopped; prints each."""

    def __init__(self, probe: Probe, pid: int, port: int, counter: Counter,
                 period: float) -> None:
        super().__init__(daemon=True, name="load-sampler")
        self.probe, self.pid, self.port = probe, pid, port
        self.counter, self.period = counter, period
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        """Sample at ``started_at + k * period`` until :meth:`stop`."""
        k = 0
        while not self.stopped.is_set():
            try:
                self.samples.append(self.take())
                print_sample(self.samples[-1])
            except Exception as exc:  # noqa: BLE001 - a lost sample must not stop the run
                self.errors.append(f"{time.monotonic() - self.started_at:.0f} s: {exc!r}")
            k += 1
            wait = self.started_at + k * self.period - time.monotonic()
            self.stopped.wait(max(0.0, wait))

    def take(self) -> Sample:
        """Read the offsets, /proc and /metrics now."""
        t = time.monotonic() - self.started_at
        produced = self.counter.sent
        found = self.probe.offsets()
        metrics = scrape_metrics(self.port)
        return Sample(
            t=t, produced=produced, lag=found["inputs_end"] - found["committed"],
            committed=found["committed"], rss_kib=rss_kib(self.pid),
            cpu_s=cpu_seconds(self.pid), scores=found["scores_end"],
            projector_lag=found["scores_end"] - found["projected"],
            customers=metrics.get("relscore_customers", float("nan")),
            scheduled=metrics.get("relscore_scheduled_customers", float("nan")),
            events=metrics.get("relscore_events", float("nan")),
            decay_updates=metrics.get("score_updates:decay", 0.0),
        )

    def stop(self) -> None:
        """Stop after the current sample."""
        self.stopped.set()
        self.join(timeout=60)


def print_sample(s: Sample) -> None:
    """One line per sample."""
    print(f"  t={s.t:6.1f}s produced {s.produced:>8,} lag {s.lag:>7,} "
          f"RSS {s.rss_kib / MIB:7.1f} MiB CPU {s.cpu_s:7.1f} s scores {s.scores:>8,} "
          f"table {s.customers:>8,.0f} sched {s.scheduled:>7,.0f} "
          f"redis-lag {s.projector_lag:>6,}", flush=True)


# ------------------------------------------------------------------ producing


def customer_ids(count: int) -> list[str]:
    """The run's customer ids (``load-0000000`` ...)."""
    return [f"load-{c:07d}" for c in range(count)]


def round_robin(ids: Sequence[str], seed: int) -> Iterator[str]:
    """Every id once per pass, in a fresh shuffled order each pass."""
    rng = random.Random(seed)
    order = list(ids)
    while True:
        rng.shuffle(order)
        yield from order


def preload_items(settings: Settings, ids: Sequence[str],
                  seed: int) -> Iterator[tuple[str, bytes, bytes]]:
    """One event per customer (its first), event time = now."""
    rng = random.Random(seed)
    for cid in ids:
        topic, event = synthetic_event(cid, 1, int(time.time() * 1000), rng)
        yield topic_name(settings, topic), cid.encode(), orjson.dumps(event)


@dataclass
class PaceResult:
    """What the open-loop producer did."""

    sent: int = 0
    seconds: float = 0.0
    max_behind_s: float = 0.0
    errors: int = 0
    first_error: str = ""


async def produce_open_loop(settings: Settings, rate: float, duration: float,
                            ids: Sequence[str], counts: dict[str, int], counter: Counter,
                            seed: int) -> PaceResult:
    """Send ``rate`` events/s for ``duration`` s (open loop), round robin over ``ids``."""
    from aiokafka import AIOKafkaProducer

    rng = random.Random(seed)
    order = round_robin(ids, seed)
    producer = AIOKafkaProducer(acks=1, linger_ms=5, **aiokafka_client_config(settings.kafka))
    await producer.start()
    result = PaceResult()
    pending: list[asyncio.Future[Any]] = []
    started = time.monotonic()
    try:
        while (now := time.monotonic()) < started + duration:
            due = int((now - started) * rate) + 1
            result.max_behind_s = max(result.max_behind_s, (due - counter.sent) / rate)
            while counter.sent < due:
                cid = next(order)
                counts[cid] = counts.get(cid, 0) + 1
                topic, event = synthetic_event(cid, counts[cid], int(time.time() * 1000), rng)
                pending.append(await producer.send(
                    topic_name(settings, topic), orjson.dumps(event), key=cid.encode()))
                counter.sent += 1
            if len(pending) > 1000:
                pending = settle(pending, result)
            await asyncio.sleep(0.001)
        result.seconds = time.monotonic() - started
        await asyncio.gather(*pending, return_exceptions=True)
        settle(pending, result)
    finally:
        await producer.stop()
    result.sent = counter.sent
    return result


def settle(pending: list[asyncio.Future[Any]], result: PaceResult) -> list[asyncio.Future[Any]]:
    """Count the failed sends among the done ones; return those still pending."""
    left = []
    for future in pending:
        if not future.done():
            left.append(future)
        elif future.exception() is not None:
            result.errors += 1
            result.first_error = result.first_error or repr(future.exception())
    return left


def wait_caught_up(probe: Probe, timeout: float, poll: float = 1.0) -> float:
    """Seconds until the worker group's input lag is 0; TimeoutError after ``timeout``."""
    started = time.monotonic()
    last_print = started
    while (lag := probe.lag()) > 0:
        now = time.monotonic()
        if now - started > timeout:
            raise TimeoutError(f"preload not scored after {timeout:.0f} s (lag {lag})")
        if now - last_print >= 30:
            print(f"  preload: {now - started:5.0f} s, lag {lag:,}", flush=True)
            last_print = now
        time.sleep(poll)
    return time.monotonic() - started


# ------------------------------------------------------------------ figures


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; NaN with fewer than two distinct x."""
    if len(points) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def at_or_after(samples: Sequence[Sample], t: float) -> Sample:
    """The first sample taken at ``t`` or later (the last one if none)."""
    return next((s for s in samples if s.t >= t), samples[-1])


def halves(samples: Sequence[Sample], warmup: float,
           end: float) -> tuple[list[Sample], list[Sample]]:
    """Samples of the two halves of [warmup, end] (the middle sample in both)."""
    mid = (warmup + end) / 2
    window = [s for s in samples if warmup <= s.t <= end + 1e-6]
    return [s for s in window if s.t <= mid], [s for s in window if s.t >= mid]


@dataclass
class RateResult:
    """Everything measured for one rate."""

    rate: float
    customers: int
    preload: dict[str, Any] = field(default_factory=dict)
    pace: PaceResult = field(default_factory=PaceResult)
    samples: list[Sample] = field(default_factory=list)
    window_s: float = 0.0
    warmup: float = 0.0
    drain: dict[str, Any] = field(default_factory=dict)
    load: str = ""
    sampler_errors: list[str] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)


def figures(r: RateResult) -> dict[str, Any]:
    """The verdict's figures for one rate."""
    samples = r.samples  # the window's, the last taken as producing stopped
    w, e = at_or_after(samples, r.warmup), samples[-1]
    first, second = halves(samples, r.warmup, e.t)
    span = max(1e-9, e.t - w.t)
    s1 = slope([(s.t, float(s.lag)) for s in first])
    s2 = slope([(s.t, float(s.lag)) for s in second])
    rss_slope = slope([(s.t, s.rss_kib / MIB) for s in (*first, *second[1:])]) * 60
    new_customers = e.customers - w.customers
    per_customer_kib = r.preload.get("rss_per_customer_kib", 0.0)
    net_growth_kib = e.rss_kib - w.rss_kib - max(0.0, new_customers) * per_customer_kib
    cpu = e.cpu_s - w.cpu_s
    events = e.events - w.events
    return {
        "rate": r.rate, "achieved_rate": r.pace.sent / max(1e-9, r.pace.seconds),
        "consumed_rate": (e.committed - w.committed) / span,
        "scored_rate": events / span, "scores_rate": (e.scores - w.scores) / span,
        "lag_warmup": w.lag, "lag_mid": (second or first)[0].lag, "lag_end": e.lag,
        "lag_max": max(s.lag for s in samples if s.t >= r.warmup - 1e-6),
        "slope_first": s1, "slope_second": s2,
        "plateaus": abs(s2) < PLATEAU_SHARE * r.rate,
        "rss_warmup_mib": w.rss_kib / MIB, "rss_end_mib": e.rss_kib / MIB,
        "rss_max_mib": max(s.rss_kib for s in samples if s.t >= r.warmup - 1e-6) / MIB,
        "rss_growth_pct": 100.0 * (e.rss_kib - w.rss_kib) / w.rss_kib,
        "rss_slope_mib_per_min": rss_slope, "new_customers": new_customers,
        "rss_growth_per_new_customer_b": (
            (e.rss_kib - w.rss_kib) * 1024 / new_customers if new_customers > 0 else None),
        "net_growth_pct": 100.0 * net_growth_kib / w.rss_kib,
        "rss_growth_per_event_b": (e.rss_kib - w.rss_kib) * 1024 / max(1.0, events),
        "flat": net_growth_kib < FLAT_SHARE * w.rss_kib,
        "table_end": e.customers, "cpu_per_event_ms": 1000 * cpu / max(1.0, events),
        "cpu_share": cpu / span, "decay_updates": e.decay_updates - w.decay_updates,
        "projector_lag_end": e.projector_lag, "window_from": w.t, "window_to": e.t,
    }


def lag_verdict(f: dict[str, Any]) -> str:
    """``plateaus`` (flat within the criterion), ``falls`` (still catching up: sustainable)
    or ``grows`` (the worker falls further behind)."""
    if f["plateaus"]:
        return "plateaus"
    return "grows" if f["slope_second"] > 0 else "falls"


def print_verdict(r: RateResult, f: dict[str, Any]) -> None:
    """The figures and verdicts of one rate, in words."""
    p = r.preload
    print(f"\n== rate {r.rate:,.0f}/s: verdict ({r.load})")
    if p:
        print(f"  preload: {p['customers']:,} customers produced in {p['produce_s']:.1f} s, "
              f"scored in {p['caught_up_s']:.1f} s ({p['rate']:,.0f} events/s); RSS idle "
              f"{p['rss_idle_kib'] / MIB:.1f} -> {p['rss_after_kib'] / MIB:.1f} MiB = "
              f"{p['rss_per_customer_kib'] * 1024:,.0f} B per customer; "
              f"table {p['table']:,.0f} customers")
    print(f"  produced {r.pace.sent:,} events in {r.pace.seconds:.1f} s = "
          f"{f['achieved_rate']:,.1f}/s (target {r.rate:,.0f}/s; at most "
          f"{r.pace.max_behind_s:.2f} s behind schedule; {r.pace.errors} send errors)")
    print(f"  after the {r.warmup:.0f} s warm-up (t={f['window_from']:.0f}-"
          f"{f['window_to']:.0f} s): worker consumed {f['consumed_rate']:,.1f}/s, scored "
          f"{f['scored_rate']:,.1f} events/s, published {f['scores_rate']:,.1f} scores/s "
          f"({f['decay_updates']:,.0f} decay updates), {f['cpu_per_event_ms']:.2f} CPU-ms "
          f"per event, {f['cpu_share']:.0%} of a CPU")
    verdict = lag_verdict(f).upper()
    print(f"  lag: {f['lag_warmup']:,} at warm-up end, {f['lag_mid']:,} mid, {f['lag_end']:,} "
          f"at end (max {f['lag_max']:,}); slope {f['slope_first']:+,.2f} then "
          f"{f['slope_second']:+,.2f} records/s -> {verdict} (criterion: |second-half slope| "
          f"< {PLATEAU_SHARE:.0%} of the rate = {PLATEAU_SHARE * r.rate:,.1f}/s)")
    per_new = f["rss_growth_per_new_customer_b"]
    print(f"  RSS: {f['rss_warmup_mib']:.1f} MiB at warm-up end, {f['rss_end_mib']:.1f} MiB at "
          f"end (max {f['rss_max_mib']:.1f}); growth {f['rss_growth_pct']:+.1f}% "
          f"({f['rss_slope_mib_per_min']:+.2f} MiB/min); new customers in the table "
          f"{f['new_customers']:,.0f} ("
          + ("n/a" if per_new is None else f"{per_new:,.0f} B RSS per new customer")
          + f"); {f['rss_growth_per_event_b']:,.0f} B per event scored; net of new "
          f"customers {f['net_growth_pct']:+.1f}% -> "
          f"{'FLAT' if f['flat'] else 'GROWING'} (criterion: < {FLAT_SHARE:.0%})")
    print(f"  table at end: {f['table_end']:,.0f} customers; Redis projector lag at end "
          f"{f['projector_lag_end']:,} score messages")
    if r.drain:
        print(f"  drain: lag {r.drain['lag']:,} {r.drain['seconds']:.0f} s after producing "
              "stopped" + (" (caught up)" if r.drain["lag"] == 0 else ""))
    for problem in (*r.sampler_errors, *r.worker_errors):
        print(f"  ! {problem}")


def print_table(rows: Sequence[tuple[RateResult, dict[str, Any]]]) -> None:
    """The side-by-side table (Markdown) of every rate."""
    print("\n| rate | achieved | consumed | scored | lag warm-up / end | slope 1st / 2nd half "
          "| lag | RSS warm-up / end | growth (net) | memory |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r, f in rows:
        print(f"| {r.rate:,.0f}/s | {f['achieved_rate']:,.1f}/s | {f['consumed_rate']:,.1f}/s "
              f"| {f['scored_rate']:,.1f}/s | {f['lag_warmup']:,} / {f['lag_end']:,} "
              f"| {f['slope_first']:+,.2f} / {f['slope_second']:+,.2f} /s "
              f"| {lag_verdict(f)} "
              f"| {f['rss_warmup_mib']:.1f} / {f['rss_end_mib']:.1f} MiB "
              f"| {f['rss_growth_pct']:+.1f}% ({f['net_growth_pct']:+.1f}%) "
              f"| {'flat' if f['flat'] else 'growing'} |")


# ------------------------------------------------------------------ one rate


def start_worker(settings: Settings, work: Path) -> WorkerProcess:
    """Create the inputs, start a worker and wait until it says "Worker ready"."""
    create_topics(settings, list(settings.topics.inputs), settings.topics.partitions)
    worker = WorkerProcess(settings, work / f"{settings.worker.app_id}.log").start()
    wait_log(worker, b"Worker ready", 180)
    return worker


def start_projector(settings: Settings, work: Path) -> subprocess.Popen[bytes]:
    """``relscore project`` for ``settings`` (its metrics on a free port)."""
    env = {**os.environ, **settings.to_env()}
    with (work / f"{settings.worker.app_id}-projector.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "project", "--metrics-port", str(free_port())],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def run_preload(settings: Settings, probe: Probe, pid: int, ids: Sequence[str],
                args: argparse.Namespace) -> dict[str, Any]:
    """Produce one event per customer and wait until the worker has scored them."""
    rss_idle = rss_kib(pid)
    started = time.monotonic()
    count, produce_s = asyncio.run(produce(settings, preload_items(settings, ids, args.seed)))
    print(f"  preload: {count:,} events produced in {produce_s:.1f} s; waiting for the worker",
          flush=True)
    wait_caught_up(probe, args.preload_timeout)
    caught_up = time.monotonic() - started
    time.sleep(2)  # let the last batch's table writes and metrics settle
    rss_after = rss_kib(pid)
    table = scrape_metrics(settings.web.port).get("relscore_customers", float("nan"))
    return {"customers": count, "produce_s": produce_s, "caught_up_s": caught_up,
            "rate": count / caught_up, "rss_idle_kib": rss_idle, "rss_after_kib": rss_after,
            "rss_per_customer_kib": (rss_after - rss_idle) / max(1, count), "table": table}


def run_window(settings: Settings, probe: Probe, pid: int, rate: float, ids: Sequence[str],
               counts: dict[str, int], args: argparse.Namespace) -> RateResult:
    """The measured window at ``rate``, sampled; then the drain."""
    result = RateResult(rate=rate, customers=len(ids), warmup=args.warmup)
    counter = Counter()
    sampler = Sampler(probe, pid, settings.web.port, counter, args.sample)
    sampler.start()
    try:
        result.pace = asyncio.run(produce_open_loop(settings, rate, args.duration, ids, counts,
                                                    counter, args.seed + 1))
        result.window_s = time.monotonic() - sampler.started_at
    finally:
        sampler.stop()  # before this thread uses the probe: its clients are not thread-safe
    sampler.samples.append(sampler.take())  # the window's last sample
    print_sample(sampler.samples[-1])
    result.drain = drain(probe, args.drain)
    result.samples = sorted(sampler.samples, key=lambda s: s.t)
    result.sampler_errors = sampler.errors
    return result


def drain(probe: Probe, seconds: float) -> dict[str, Any]:
    """Wait up to ``seconds`` for the lag to reach 0 after producing stopped."""
    started = time.monotonic()
    lag = probe.lag()
    while lag > 0 and time.monotonic() - started < seconds:
        time.sleep(1)
        lag = probe.lag()
    return {"lag": lag, "seconds": time.monotonic() - started}


def worker_problems(log: Path) -> list[str]:
    """ERROR / CRITICAL / Traceback lines of the worker's log (at most 10)."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if " ERROR " in line or " CRITICAL " in line or "Traceback" in line]
    return [f"worker log: {line[:200]}" for line in lines[:10]]


def run_rate(base: Settings, run: str, n: int, rate: float, args: argparse.Namespace,
             work: Path) -> RateResult:
    """One rate on a fresh worker, topics, group and data directory."""
    settings = app_settings(base, f"bench-{run}-{n}-in", f"bench-{run}-{n}-app", work)
    ids = customer_ids(args.customers)
    preload_ids = ids[:args.preload_customers]
    print(f"\n== rate {rate:,.0f}/s for {args.duration:g} s (warm-up {args.warmup:g} s), "
          f"{len(ids):,} customers, preload {len(preload_ids):,}; {machine_load()}", flush=True)
    worker = start_worker(settings, work)
    assert worker.process is not None
    # RELSCORE_PROJECTOR=off (as compose and k8s deploy it): Redis is kept by `relscore
    # project` in a process of its own, on the same machine, so it is part of the load.
    projector = start_projector(settings, work) if settings.worker.projector == "off" else None
    probe = Probe(settings)
    try:
        preload = (run_preload(settings, probe, worker.process.pid, preload_ids, args)
                   if preload_ids else {})
        counts = dict.fromkeys(preload_ids, 1)
        load_before = machine_load()
        result = run_window(settings, probe, worker.process.pid, rate, ids, counts, args)
        result.preload = preload
        result.load = f"{load_before} at the window start; {machine_load()} at its end"
    finally:
        probe.close()
        code = worker.stop(timeout=30)
        if projector is not None:
            projector_cpu = cpu_seconds(projector.pid)
            projector.terminate()
            projector.wait(30)
            print(f"  standalone projector used {projector_cpu:.1f} CPU-s", flush=True)
    result.worker_errors = worker_problems(worker.log_path)
    if code not in (0, None, -15):
        result.worker_errors.append(f"worker exit code {code}")
    return result


def to_json(r: RateResult, f: dict[str, Any]) -> dict[str, Any]:
    """A JSON-able record of one rate."""
    return {"figures": f, "preload": r.preload, "pace": dataclasses.asdict(r.pace),
            "drain": r.drain, "load": r.load, "errors": r.sampler_errors + r.worker_errors,
            "samples": [dataclasses.asdict(s) for s in r.samples]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", default="300,600", help="events/s; a comma list runs each")
    parser.add_argument("--duration", type=float, default=300.0,
                        help="seconds of open-loop producing per rate, warm-up included")
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--preload-customers", type=int, default=None,
                        help="customers given one event before the window (default: all)")
    parser.add_argument("--preload-timeout", type=float, default=900.0)
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--drain", type=float, default=20.0,
                        help="seconds to wait for the lag to reach 0 after producing")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args(argv)
    if args.preload_customers is None:
        args.preload_customers = args.customers
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    return args


def cleanup_redis(base: Settings, prefix: str) -> int:
    """Delete the run's Redis keys (the projector's read model)."""
    import redis

    client = redis.Redis.from_url(base.redis.url, socket_timeout=10)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                deleted += int(client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted


def main(argv: list[str] | None = None) -> int:
    """Run each rate in turn; print the samples, the verdicts and the table."""
    args = parse_args(argv)
    base = base_settings()
    run = new_run_id("load")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    print(f"run {run}; broker {base.kafka.bootstrap}; {base.topics.partitions} partitions; "
          f"work dir {work}; {machine_load()}")
    rows: list[tuple[RateResult, dict[str, Any]]] = []
    try:
        for n, text in enumerate(args.rate.split(",")):
            result = run_rate(base, run, n, float(text), args, work)
            rows.append((result, figures(result)))
            print_verdict(*rows[-1])
    finally:
        if not args.keep_topics:
            cleanup_topics(base, f"bench-{run}")
            with contextlib.suppress(Exception):
                cleanup_redis(base, f"bench-{run}")
    print_table(rows)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps([to_json(r, f) for r, f in rows], indent=1,
                                            default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
