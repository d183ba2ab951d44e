"""Produce-to-score latency at a fixed produce rate, on a live worker.

    .venv/bin/python bench/bench_latency.py [--rate 5000] [--duration 30] [--customers 20000]
        [--cooldown 2] [--warmup 5] [--drain 60]

``--rate`` takes a comma list (e.g. ``5000,1000,200``): each rate runs on a fresh worker with
fresh topics, one after the other.

Open loop: events are produced at the given rate whatever the worker does (aiokafka, paced in
1 ms steps; the rate actually achieved is reported), each with event time = send time. The
score topic is created by this script as compacted with ``message.timestamp.type=
LogAppendTime``, so every score message carries the moment the broker appended it, that is,
the moment it became visible; a consumer reads it concurrently.

Matching: an event is the k-th of its customer; the worker's score message for it carries
``customer_id`` and ``events_seen = k``. A customer gets no new event for ``--cooldown``
seconds after its last one (customers are reused in FIFO order), so while latency stays under
the cooldown no two events of one customer are in flight and the match is exact. An event
after which the score did not change (no message with ``events_seen = k``, but a later one
exists) is counted as "no score change", not as a latency sample. Events whose score is not
visible when the drain ends count as latency = infinity in the percentiles.

Latencies: visible = LogAppendTime of the score message - send time (primary), received =
when this script's consumer got it - send time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import random
import sys
import tempfile
import time
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
    machine_load,
    new_run_id,
    percentile,
    rss_kib,
    synthetic_event,
    topic_name,
    wait_log,
)

from streams.kafka_clients import aiokafka_client_config
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.group_offsets import group_lag
from streams.settings import Settings


async def relay(settings: Settings) -> None:
    """The baseline "worker": a bare aiokafka consumer that produces, per input event, a
    minimal score message (customer_id, events_seen) and awaits its acks per batch, as the
    worker does. Runs as a child process until killed."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    config = aiokafka_client_config(settings.kafka)
    consumer = AIOKafkaConsumer(*settings.topics.inputs, group_id=settings.worker.app_id,
                                auto_offset_reset="earliest", enable_auto_commit=True,
                                auto_commit_interval_ms=1000, **config)
    producer = AIOKafkaProducer(acks="all", **config)
    await producer.start()
    await consumer.start()
    print("Worker ready", flush=True)
    seen: dict[str, int] = {}
    while True:
        batches = await consumer.getmany(timeout_ms=100, max_records=500)
        pending = []
        for records in batches.values():
            for record in records:
                event = orjson.loads(record.value)
                cid = event["customer_id"]
                seen[cid] = seen.get(cid, 0) + 1
                value = orjson.dumps({"customer_id": cid, "events_seen": seen[cid]})
                pending.append(await producer.send(settings.topics.scores, value,
                                                   key=record.key))
        if pending:
            await asyncio.gather(*pending)


class RelayProcess(WorkerProcess):
    """The bare relay as a child process with the WorkerProcess interface."""

    def start(self) -> RelayProcess:
        import json
        import os
        import subprocess

        fields = self.settings.to_env()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--relay-child", json.dumps(fields)],
                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
                start_new_session=True,
            )
        return self


class Tracker:
    def __init__(self) -> None:
        self.sent: dict[tuple[str, int], float] = {}  # (customer, k) -> send ms
        self.appended: dict[tuple[str, int], float] = {}  # input LogAppendTime
        self.measured: set[tuple[str, int]] = set()  # sent after the warm-up
        self.visible: dict[tuple[str, int], float] = {}
        self.received: dict[tuple[str, int], float] = {}
        self.max_seen: dict[str, int] = {}
        self.messages = 0

    def on_score(self, value: bytes, append_ms: float, now_ms: float) -> None:
        self.messages += 1
        try:
            message = orjson.loads(value)
            key = (message["customer_id"], int(message["events_seen"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        if key[1] > self.max_seen.get(key[0], 0):
            self.max_seen[key[0]] = key[1]
        if key in self.sent and key not in self.visible:
            self.visible[key] = append_ms
            self.received[key] = now_ms

    def pending(self) -> int:
        """Measured events neither visible nor known to have changed nothing."""
        return sum(1 for key in self.measured
                   if key not in self.visible and self.max_seen.get(key[0], 0) <= key[1])


async def consume_scores(settings: Settings, topic: str, tracker: Tracker,
                         ready: asyncio.Event, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest",
                                **aiokafka_client_config(settings.kafka))
    await consumer.start()
    try:
        # This script created the topic with settings.topics.partitions partitions.
        tps = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        ready.set()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            now_ms = time.time() * 1000
            for records in batches.values():
                for record in records:
                    tracker.on_score(record.value, float(record.timestamp), now_ms)
    finally:
        await consumer.stop()


async def produce_paced(settings: Settings, tracker: Tracker, rate: float, duration: float,
                        warmup: float, customers: int, cooldown: float,
                        seed: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    rng = random.Random(seed)
    ids = [f"lat-{c:06d}" for c in range(customers)]
    rng.shuffle(ids)
    free: collections.deque[tuple[float, str]] = collections.deque((0.0, cid) for cid in ids)
    counts: dict[str, int] = {}
    last_ts: dict[str, int] = {}
    reused_early = 0
    producer = AIOKafkaProducer(acks=1, **aiokafka_client_config(settings.kafka))
    await producer.start()
    futures: list[tuple[tuple[str, int], asyncio.Future[Any]]] = []

    def settle(done: list[tuple[tuple[str, int], asyncio.Future[Any]]]) -> None:
        for key, future in done:
            metadata = future.result()
            if metadata.timestamp is not None and metadata.timestamp > 0:
                tracker.appended[key] = float(metadata.timestamp)

    sent = 0
    started = time.monotonic()
    measure_from = started + warmup
    end = started + warmup + duration
    max_behind = 0.0
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - started) * rate) + 1
            max_behind = max(max_behind, (due - sent) / rate)
            while sent < due:
                ready_at, cid = free[0]
                if ready_at > now:
                    reused_early += 1
                free.popleft()
                free.append((now + cooldown, cid))
                k = counts.get(cid, 0) + 1
                counts[cid] = k
                send_ms = time.time() * 1000
                ts = max(int(send_ms), last_ts.get(cid, 0) + 1)
                last_ts[cid] = ts
                topic, event = synthetic_event(cid, k, ts, rng)
                tracker.sent[(cid, k)] = send_ms
                if now >= measure_from:
                    tracker.measured.add((cid, k))
                futures.append(((cid, k), await producer.send(
                    topic_name(settings, topic), orjson.dumps(event), key=cid.encode(),
                    timestamp_ms=int(send_ms))))
                sent += 1
            if len(futures) > 2000:
                settle([item for item in futures if item[1].done()])
                futures = [item for item in futures if not item[1].done()]
            await asyncio.sleep(0.001)
        produce_end = time.monotonic()
        await asyncio.gather(*(future for _, future in futures))
        settle(futures)
        acked = time.monotonic()
    finally:
        await producer.stop()
    return {"sent": sent, "seconds": produce_end - started, "rate": sent / (produce_end - started),
            "acked_after_s": acked - produce_end, "reused_early": reused_early,
            "max_behind_s": max_behind}


async def run_rate(settings: Settings, rate: float, args: argparse.Namespace,
                   work: Path) -> dict[str, Any]:
    # LogAppendTime on the inputs too: the producer's acks then say when each event became
    # readable, which splits the latency into the producer's and the worker's share.
    create_topics(settings, list(settings.topics.inputs), settings.topics.partitions,
                  {name: {"message.timestamp.type": "LogAppendTime"}
                   for name in settings.topics.inputs})
    create_topics(settings, [settings.topics.scores], settings.topics.partitions,
                  {settings.topics.scores: {"cleanup.policy": "compact",
                                           "message.timestamp.type": "LogAppendTime"}})
    kind = RelayProcess if args.bare else WorkerProcess
    worker = kind(settings, work / f"{settings.worker.app_id}.log").start()
    assert worker.process is not None
    pid = worker.process.pid
    tracker = Tracker()
    stop = asyncio.Event()
    consumer_ready = asyncio.Event()
    try:
        await asyncio.to_thread(wait_log, worker, b"Worker ready", 180)
        consumer = asyncio.create_task(
            consume_scores(settings, settings.topics.scores, tracker, consumer_ready, stop))
        waiter = asyncio.create_task(consumer_ready.wait())
        await asyncio.wait({waiter, consumer}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if consumer.done():
            consumer.result()  # raises what stopped the consumer
        if not consumer_ready.is_set():
            raise TimeoutError("the score consumer did not start in 60 s")
        cpu0 = cpu_seconds(pid)
        produced = await produce_paced(settings, tracker, rate, args.duration, args.warmup,
                                       args.customers, args.cooldown, args.seed)
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < args.drain and tracker.pending():
            await asyncio.sleep(0.25)
        drained = time.monotonic() - drain_start
        cpu = cpu_seconds(pid) - cpu0
        rss = rss_kib(pid)
        stop.set()
        await consumer
        lag = await asyncio.to_thread(group_lag, settings, list(settings.topics.inputs))
    finally:
        stop.set()
        worker.stop(timeout=30)

    visible: list[float] = []
    received: list[float] = []
    worker_path: list[float] = []
    unchanged = 0
    missing = 0
    for key in tracker.measured:
        if key in tracker.visible:
            visible.append(tracker.visible[key] - tracker.sent[key])
            received.append(tracker.received[key] - tracker.sent[key])
            if key in tracker.appended:
                worker_path.append(tracker.visible[key] - tracker.appended[key])
        elif tracker.max_seen.get(key[0], 0) > key[1] or lag == 0:
            # A later message of the customer was seen, or the group committed every input
            # (offsets are committed only after the outputs): the event was scored and
            # changed nothing a score message carries, so it published none.
            unchanged += 1
        else:
            missing += 1
    producer_path = [tracker.appended[key] - tracker.sent[key] for key in tracker.measured
                     if key in tracker.appended]
    visible += [math.inf] * missing
    received += [math.inf] * missing
    worker_path += [math.inf] * missing
    for values in (visible, received, worker_path, producer_path):
        values.sort()
    return {
        "rate_target": rate, **produced, "measured": len(tracker.measured),
        "matched": len(tracker.measured) - unchanged - missing, "no_score_change": unchanged,
        "not_visible_after_drain": missing, "drain_s": drained,
        "score_messages": tracker.messages, "worker_cpu_s": cpu, "worker_rss_kib": rss,
        "lag_at_end": lag,
        "visible_ms": {q: percentile(visible, q) for q in (50, 90, 99, 100)},
        "received_ms": {q: percentile(received, q) for q in (50, 90, 99, 100)},
        "worker_ms": {q: percentile(worker_path, q) for q in (50, 90, 99, 100)},
        "producer_ms": {q: percentile(producer_path, q) for q in (50, 90, 99, 100)},
    }


def _ms(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default="5000", help="events/s; a comma list runs each")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds sent, not measured")
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds to wait for the last scores after producing stops")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--cooldown", type=float, default=2.0,
                        help="seconds before a customer gets its next event")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--bare", action="store_true",
                        help="replace the worker by a bare aiokafka relay (the latency floor)")
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args(argv)

    base = base_settings()
    run = new_run_id("lat")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    print(f"run {run}; broker {base.kafka.bootstrap}; {base.topics.partitions} partitions; "
          f"work dir {work}")
    results = []
    try:
        for n, rate_text in enumerate(args.rate.split(",")):
            rate = float(rate_text)
            if rate * args.cooldown > args.customers:
                print(f"note: {rate:g}/s x {args.cooldown:g} s cooldown > {args.customers} "
                      "customers: some customers get events within the cooldown")
            settings = app_settings(base, f"bench-{run}-{n}-in", f"bench-{run}-{n}-app", work)
            print(f"\n{'bare relay' if args.bare else 'relscore worker'}: "
                  f"rate {rate:,.0f}/s for {args.warmup:g}+{args.duration:g} s; "
                  f"{machine_load()}")
            r = asyncio.run(run_rate(settings, rate, args, work))
            results.append(r)
            v, rc = r["visible_ms"], r["received_ms"]
            print(f"  produced {r['sent']} events in {r['seconds']:.1f} s = {r['rate']:,.0f}/s "
                  f"(target {rate:,.0f}/s; producer at most {r['max_behind_s']:.2f} s behind "
                  f"schedule; {r['reused_early']} customer reuses inside the cooldown)")
            print(f"  measured {r['measured']} events (after warm-up): {r['matched']} with a "
                  f"score message, {r['no_score_change']} without a score change, "
                  f"{r['not_visible_after_drain']} not visible {r['drain_s']:.0f} s after "
                  "producing stopped")
            print(f"  produce -> score visible (LogAppendTime): p50 {_ms(v[50])} ms, "
                  f"p90 {_ms(v[90])} ms, p99 {_ms(v[99])} ms, max {_ms(v[100])} ms")
            print(f"  produce -> score received by this consumer: p50 {_ms(rc[50])} ms, "
                  f"p99 {_ms(rc[99])} ms, max {_ms(rc[100])} ms")
            pw, ww = r["producer_ms"], r["worker_ms"]
            print(f"  split: send -> input appended p50 {_ms(pw[50])} / p99 {_ms(pw[99])} ms; "
                  f"input appended -> score appended (the worker) p50 {_ms(ww[50])} / "
                  f"p99 {_ms(ww[99])} ms")
            print(f"  worker: {r['worker_cpu_s']:.1f} CPU-s, RSS {r['worker_rss_kib'] / 1024:.0f} "
                  f"MiB, input lag at the end {r['lag_at_end']}; {r['score_messages']} score "
                  "messages seen")
    finally:
        if not args.keep_topics:
            cleanup_topics(base, f"bench-{run}")
    print("\ntarget: p99 produce-to-score < 250 ms at 5,000 events/s")
    for r in results:
        print(f"  {r['rate_target']:>7,.0f}/s target, {r['rate']:>7,.0f}/s achieved: "
              f"p50 {_ms(r['visible_ms'][50])} ms, p99 {_ms(r['visible_ms'][99])} ms, "
              f"max {_ms(r['visible_ms'][100])} ms")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--relay-child":
        import json

        asyncio.run(relay(Settings.from_env(json.loads(sys.argv[2]))))
    sys.exit(main())
