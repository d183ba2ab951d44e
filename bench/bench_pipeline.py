"""Throughput side by side on one broker: bare aiokafka pass-through vs relscore vs the model.

    .venv/bin/python bench/bench_pipeline.py [--events 200000] [--customers 20000]
        [--budget 240] [--model-budget 120]

Pre-loads the three input topics once (a simulated population, keyed by customer_id), then:

(a) the limit: a bare aiokafka pass-through (fresh group, from the beginning; one small
    message produced per event to a sink topic, acks=all; offsets committed at the end);
    run before and after (b) to bracket the machine's noise;
(b) relscore: one ``relscore worker`` (streams.laptop.worker_process.WorkerProcess) with a
    fresh app id and fresh output topics reading the same inputs from the start, timed from its
    "Worker ready" log line until streams.runtime.group_offsets.group_lag(...) on the inputs
    is 0 (or the budget ends);
(c) the model alone: streams.tools.offline_scoring.score_lines over the same events from a
    JSONL file, in a child process pinned to one CPU;
(d) the agent body alone: the worker's per-record path (Processor + due-time schedule, a dict
    for the table) without Kafka or Faust, pinned to one CPU like (c).
(e) the quix-streams peer (``bench/quix_peer.py``, the ``bench`` extra) on the same inputs;
(f) relscore again on the compiled build of scorers/ (``make compiled``;
    ``PYTHONPATH=.compiled``; its log line says which build it runs).

Wall-clock events/s are reported with CPU-seconds per event (CPU time is less sensitive to the
other tenants of a shared machine). When a phase hits its time budget the rate is that of the
prefix it processed, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _call_counter import count_calls
from _stackbench import (
    AgentLoop,
    app_settings,
    base_settings,
    cleanup_topics,
    cpu_seconds,
    create_topics,
    end_offsets_total,
    machine_load,
    new_run_id,
    preload,
    records_for,
    rss_kib,
    scrape_counters,
    simulated_messages,
    wait_log,
    write_jsonl,
)

from streams.kafka_clients import aiokafka_client_config
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.group_offsets import group_lag
from streams.runtime.topic_layout import changelog_topic
from streams.settings import Settings

# ------------------------------------------------------------------ (a) bare pass-through


async def _bare(settings: Settings, sink: str, total: int, group: str,
                timeout: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    config = aiokafka_client_config(settings.kafka)
    consumer = AIOKafkaConsumer(*settings.topics.inputs, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                **config)
    producer = AIOKafkaProducer(acks="all", **config)
    await producer.start()
    await consumer.start()
    count = 0
    first: float | None = None
    cpu0 = time.process_time()
    deadline = time.monotonic() + timeout
    pending: list[asyncio.Future[Any]] = []
    try:
        while count < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            if batches and first is None:
                first = time.perf_counter()
                cpu0 = time.process_time()
            for records in batches.values():
                for record in records:
                    value = b'{"p":%d,"o":%d}' % (record.partition, record.offset)
                    pending.append(await producer.send(sink, value, key=record.key))
                    count += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        await consumer.commit()
        end = time.perf_counter()
        cpu = time.process_time() - cpu0
    finally:
        await consumer.stop()
        await producer.stop()
    elapsed = end - (first or end)
    return {"events": count, "seconds": elapsed, "rate": count / elapsed if elapsed else 0.0,
            "cpu_s": cpu, "complete": count >= total}


def bare_passthrough(settings: Settings, run: str, total: int, n: int,
                     timeout: float) -> dict[str, Any]:
    sink = f"bench-{run}-bare-sink-{n}"
    create_topics(settings, [sink], settings.topics.partitions)
    return asyncio.run(_bare(settings, sink, total, f"bench-{run}-bare-{n}", timeout))


# ------------------------------------------------------------------ (b) relscore worker


def _last_timestamp_ms(settings: Settings, topic: str) -> int | None:
    """The largest record timestamp among the last records of ``topic``'s partitions."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.kafka_clients import kafka_client_config

    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        best = None
        for tp in tps:
            if ends[tp] > 0:
                consumer.seek(tp, ends[tp] - 1)
        wanted = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + 20
        while wanted and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    best = r.timestamp if best is None else max(best, r.timestamp)
                wanted.discard(tp)
        return best
    finally:
        consumer.close()


def relscore_worker(settings: Settings, work: Path, total: int, budget: float,
                    poll: float, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    log_path = work / f"{settings.worker.app_id}.log"
    worker = WorkerProcess(settings, log_path, extra_env).start()
    assert worker.process is not None
    pid = worker.process.pid
    try:
        seen, stamped = wait_log(worker, b"Worker ready", timeout=180)
        ready = stamped or seen
        cpu0 = cpu_seconds(pid)
        inputs = list(settings.topics.inputs)
        lag = total
        samples: list[tuple[float, int]] = []
        deadline = ready + budget
        while time.time() < deadline:
            lag = group_lag(settings, inputs)
            now = time.time()
            samples.append((now - ready, lag))
            if lag == 0:
                break
            time.sleep(poll)
        end = time.time()
        cpu = cpu_seconds(pid) - cpu0
        rss = rss_kib(pid)
        counters = scrape_counters(settings)
        processed = total - lag
        elapsed = end - ready
        result: dict[str, Any] = {
            "events": processed, "seconds": elapsed, "rate": processed / elapsed,
            "cpu_s": cpu, "complete": lag == 0, "rss_kib": rss, "lag_samples": samples,
            "log": str(log_path), "counters": counters,
        }
        if lag == 0:
            last_ms = _last_timestamp_ms(settings, changelog_topic(settings))
            if last_ms is not None:
                precise = last_ms / 1000 - ready
                result["seconds_last_write"] = precise
                result["rate_last_write"] = processed / precise if precise > 0 else None
        outputs = {
            name: end_offsets_total(settings, [topic])
            for name, topic in (("scores", settings.topics.scores),
                                ("alerts", settings.topics.alerts),
                                ("dlq", settings.topics.dlq),
                                ("changelog", changelog_topic(settings)))
        }
        result["outputs"] = outputs
        return result
    finally:
        worker.stop(timeout=30)


# ------------------------------------------------------------------ (e) quix-streams peer


def quix_peer(settings: Settings, work: Path, run: str, total: int, budget: float,
              poll: float, python: str) -> dict[str, Any]:
    """bench/quix_peer.py over the same inputs from the start, timed from its first output
    record until its consumer group has committed every input record."""
    group = f"bench-{run}-quix"
    sink = f"bench-{run}-quix-sink"
    create_topics(settings, [sink], settings.topics.partitions)
    peer_settings = dataclasses.replace(
        settings, worker=dataclasses.replace(settings.worker, app_id=group))
    inputs = list(settings.topics.inputs)
    log_path = work / "quix-peer.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [python, str(Path(__file__).with_name("quix_peer.py")),
             "--broker", settings.kafka.bootstrap, "--group", group, "--sink", sink,
             "--state-dir", str(work / "quix-state"), *inputs],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.time()
        first: float | None = None
        while first is None and time.time() < started + 120:
            if process.poll() is not None:
                raise SystemExit(f"(e) the quix-streams peer exited {process.returncode}: "
                                 f"see {log_path}")
            if end_offsets_total(settings, [sink]) > 0:
                first = time.time()
            else:
                time.sleep(0.2)
        if first is None:
            raise SystemExit(f"(e) the quix-streams peer produced nothing in 120 s: {log_path}")
        cpu0 = cpu_seconds(process.pid)
        lag = total
        deadline = first + budget
        while time.time() < deadline:
            lag = group_lag(peer_settings, inputs)
            if lag == 0:
                break
            time.sleep(poll)
        end = time.time()
        cpu = cpu_seconds(process.pid) - cpu0
        rss = rss_kib(process.pid)
        processed = total - lag
        elapsed = end - first
        return {"events": processed, "seconds": elapsed, "rate": processed / elapsed,
                "cpu_s": cpu, "complete": lag == 0, "rss_kib": rss, "log": str(log_path),
                "outputs": end_offsets_total(settings, [sink]),
                "startup_s": first - started}
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _has_quixstreams(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import quixstreams"], capture_output=True,
                           check=False)
    return probe.returncode == 0


# ------------------------------------------------------------------ (c), (d) offline, one CPU


def _pin_one_cpu() -> int:
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def offline_child(mode: str, path: Path, budget: float, settings_json: str) -> dict[str, Any]:
    """Runs in a child process: (c) ``model`` or (d) ``agent`` over the JSONL file."""
    cpu = _pin_one_cpu()
    settings = Settings.from_env(json.loads(settings_json))
    if mode == "model":
        import streams.tools.offline_scoring as offline
        from scorers.config import load_config

        cfg = load_config(settings.worker.config_path)
        rescores = count_calls(offline, "rescore")
        lines_read = 0

        def lines() -> Any:
            nonlocal lines_read
            with path.open("rb") as handle:
                for line in handle:
                    if time.perf_counter() > deadline:
                        return
                    lines_read += 1
                    yield line

        started = time.perf_counter()
        deadline = started + budget
        cpu0 = time.process_time()
        result = offline.score_lines(lines(), cfg, reference_ms=None,
                                     partitions=settings.topics.partitions,
                                     allowed_lateness_ms=settings.worker.allowed_lateness_ms)
        elapsed = time.perf_counter() - started
        cpu_s = time.process_time() - cpu0
        total_lines = sum(1 for _ in path.open("rb"))
        return {"cpu": cpu, "lines": lines_read, "events": result.events,
                "duplicates": result.duplicates, "rejects": len(result.rejects),
                "rescores": rescores(), "seconds": elapsed, "cpu_s": cpu_s,
                "rate": lines_read / elapsed, "scored_rate": result.events / elapsed,
                "complete": lines_read >= total_lines}
    # mode == "agent": the very messages that were pre-loaded (pickled beside the file)

    with path.with_suffix(".pickle").open("rb") as handle:
        messages = pickle.load(handle)
    records = records_for(settings, messages, time.time_ns() // 1_000_000)
    loop = AgentLoop(settings, records)
    size = getattr(settings, "batch_size", 500)
    started = time.perf_counter()
    deadline = started + budget
    cpu0 = time.process_time()
    for index in range(0, len(records), size):
        loop.process(records[index:index + size])
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - started
    return {"cpu": cpu, "lines": loop.events, "rescores": loop.rescores,
            "emitted": loop.emitted, "seconds": elapsed, "cpu_s": time.process_time() - cpu0,
            "rate": loop.events / elapsed, "complete": loop.events >= len(records)}


def run_offline(mode: str, path: Path, budget: float, settings: Settings) -> dict[str, Any]:
    fields = settings.to_env()
    out = subprocess.run(
        [sys.executable, __file__, "--offline-child", mode, str(path), str(budget),
         json.dumps(fields)],
        check=False, capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"offline child {mode} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------ main


def _fmt(result: dict[str, Any]) -> str:
    per_cpu = result["events"] / result["cpu_s"] if result.get("cpu_s") else float("nan")
    done = "" if result.get("complete", True) else " (time budget hit: prefix only)"
    return (f"{result['events']:>8} events in {result['seconds']:7.1f} s = "
            f"{result['rate']:9,.0f} events/s wall, {per_cpu:9,.0f} events per CPU-s{done}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds (b) may run before its rate is taken over the prefix")
    parser.add_argument("--model-budget", type=float, default=90.0,
                        help="seconds (c) and (d) may run each")
    parser.add_argument("--bare-timeout", type=float, default=300.0)
    parser.add_argument("--poll", type=float, default=1.0, help="group-lag poll interval, s")
    parser.add_argument("--skip", default="", help="comma list of phases to skip: a,b,c,d,e,f")
    parser.add_argument("--quix-python", default=sys.executable,
                        help="a Python with quixstreams for (e) (pip install -e '.[bench]')")
    parser.add_argument("--keep-topics", action="store_true")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    base = base_settings()
    run = new_run_id("pipe")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    inputs = f"bench-{run}-in"
    settings = app_settings(base, inputs, f"bench-{run}-app", work)
    print(f"run {run}; broker {base.kafka.bootstrap}; {base.topics.partitions} partitions; "
          f"work dir {work}")
    print(f"machine: {machine_load()}")

    started = time.perf_counter()
    messages, described = simulated_messages(args.customers, args.events, args.seed)
    print(f"data: {described} ({time.perf_counter() - started:.1f} s)")
    jsonl = work / "events.jsonl"
    write_jsonl(jsonl, messages)
    with jsonl.with_suffix(".pickle").open("wb") as handle:
        pickle.dump(messages, handle, protocol=pickle.HIGHEST_PROTOCOL)
    count, seconds = preload(settings, messages)
    print(f"pre-loaded {count} messages in {seconds:.1f} s ({count / seconds:,.0f}/s)")
    total = end_offsets_total(settings, list(settings.topics.inputs))
    del messages
    figures: dict[str, Any] = {"run": run, "events": total, "customers": args.customers,
                               "load_before": machine_load()}
    try:
        if "a" not in skip:
            figures["a1"] = bare_passthrough(settings, run, total, 1, args.bare_timeout)
            print(f"(a) bare pass-through #1: {_fmt(figures['a1'])}")
        if "b" not in skip:
            figures["b"] = relscore_worker(settings, work, total, args.budget, args.poll)
            b = figures["b"]
            print(f"(b) relscore worker     : {_fmt(b)}")
            if "rate_last_write" in b:
                print(f"    to its last changelog write: {b['seconds_last_write']:.1f} s = "
                      f"{b['rate_last_write']:,.0f} events/s")
            outs = b["outputs"]
            print(f"    outputs: {outs}; per input event: "
                  f"{sum(outs.values()) / max(1, b['events']):.2f}; worker RSS "
                  f"{b['rss_kib'] / 1024:.0f} MiB; log {b['log']}")
            counters = b["counters"]
            scored = counters.get("events:scored", 0.0)
            if scored:
                print(f"    worker counters: {counters}; decay re-score messages per scored "
                      f"event {counters.get('score_updates:decay', 0.0) / scored:.2f}")
        if "f" not in skip:
            compiled = Path(__file__).resolve().parents[1] / ".compiled"
            if (compiled / ".built").exists():
                settings_f = app_settings(base, inputs, f"bench-{run}-appc", work / "f")
                figures["f"] = relscore_worker(settings_f, work, total, args.budget, args.poll,
                                               {"PYTHONPATH": str(compiled)})
                f = figures["f"]
                build = ("compiled" if b"(compiled scorers)" in Path(f["log"]).read_bytes()
                         else "NOT compiled")
                print(f"(f) relscore worker, compiled scorers ({build}): {_fmt(f)}")
                print(f"    outputs: {f['outputs']}; worker RSS {f['rss_kib'] / 1024:.0f} MiB")
            else:
                print("(f) skipped: no compiled build (make compiled)")
        if "e" not in skip:
            if _has_quixstreams(args.quix_python):
                figures["e"] = quix_peer(settings, work, run, total, args.budget, args.poll,
                                         args.quix_python)
                e = figures["e"]
                print(f"(e) quix-streams peer   : {_fmt(e)}")
                print(f"    outputs {e['outputs']}; RSS {e['rss_kib'] / 1024:.0f} MiB; "
                      f"start-up {e['startup_s']:.1f} s; log {e['log']}")
            else:
                print(f"(e) skipped: {args.quix_python} has no quixstreams "
                      "(pip install -e '.[bench]', or --quix-python)")
        if "c" not in skip:
            figures["c"] = run_offline("model", jsonl, args.model_budget, settings)
            c = figures["c"]
            c["events_in"] = c["lines"]
            print(f"(c) model alone, 1 CPU  : {_fmt({**c, 'events': c['lines']})}")
            print(f"    {c['events']} scored, {c['duplicates']} duplicates, {c['rejects']} "
                  f"rejected; {c['rescores']} decay re-scores "
                  f"({c['rescores'] / max(1, c['events']):.2f} per scored event)")
        if "d" not in skip:
            figures["d"] = run_offline("agent", jsonl, args.model_budget, settings)
            d = figures["d"]
            print(f"(d) agent body, 1 CPU   : {_fmt({**d, 'events': d['lines']})}")
            print(f"    {d['rescores']} re-score pops, {d['emitted']} records to produce "
                  f"(incl. changelog)")
        if "a" not in skip:
            figures["a2"] = bare_passthrough(settings, run, total, 2, args.bare_timeout)
            print(f"(a) bare pass-through #2: {_fmt(figures['a2'])}")
    finally:
        figures["load_after"] = machine_load()
        if not args.keep_topics:
            cleanup_topics(base, f"bench-{run}")

    print()
    print(f"machine after: {figures['load_after']}")
    if "a1" in figures and "b" in figures:
        bare_rates = [figures[k]["rate"] for k in ("a1", "a2") if k in figures]
        bare = sum(bare_rates) / len(bare_rates)
        b = figures["b"]
        print(f"relscore / bare pass-through (wall events/s): {b['rate'] / bare:.1%} "
              f"(bare {bare:,.0f}/s = mean of {', '.join(f'{r:,.0f}' for r in bare_rates)}; "
              f"issue #12: >= 25%, stretch 50%)")
        bare_cpu = [figures[k]["events"] / figures[k]["cpu_s"] for k in ("a1", "a2")
                    if k in figures and figures[k]["cpu_s"]]
        if bare_cpu and b["cpu_s"]:
            print(f"relscore / bare pass-through (events per CPU-s of the consuming process): "
                  f"{b['events'] / b['cpu_s'] / (sum(bare_cpu) / len(bare_cpu)):.1%}")
        figures["ratio_b_over_a"] = b["rate"] / bare
        if "e" in figures:
            e = figures["e"]
            print(f"quix-streams peer / bare pass-through (wall events/s): {e['rate'] / bare:.1%}")
            print(f"relscore / quix-streams peer (wall events/s): {b['rate'] / e['rate']:.2f}x; "
                  f"events per CPU-s: relscore {b['events'] / max(b['cpu_s'], 1e-9):,.0f}, "
                  f"peer {e['events'] / max(e['cpu_s'], 1e-9):,.0f}, bare "
                  f"{sum(bare_cpu) / len(bare_cpu) if bare_cpu else float('nan'):,.0f}")
            figures["ratio_b_over_e"] = b["rate"] / e["rate"]
        if "f" in figures:
            f = figures["f"]
            line = f"relscore worker, compiled: {f['rate'] / bare:.1%} of bare"
            if "e" in figures:
                line += f", {f['rate'] / figures['e']['rate']:.2f}x the peer"
            print(f"{line}; {f['rate'] / b['rate']:.2f}x the pure-Python worker; events per "
                  f"CPU-s {f['events'] / max(f['cpu_s'], 1e-9):,.0f}")
    if "c" in figures:
        print(f"model alone: {figures['c']['rate']:,.0f} events/s on one CPU (target >= 100,000)")
    if "b" in figures and "d" in figures:
        share = figures["b"]["rate"] / figures["d"]["rate"]
        print(f"relscore worker / agent body alone (wall): {share:.1%} (about the share of the "
              "worker's time spent in the agent body)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--offline-child":
        _, _, mode, path, budget, settings_json = sys.argv
        print(json.dumps(offline_child(mode, Path(path), float(budget), settings_json)))
        sys.exit(0)
    sys.exit(main())
