"""Shared helpers of the stack benchmarks (bench_pipeline, bench_latency, bench_memory,
profile_worker). Not tests: each script prints figures.

Everything runs against the stack named by the ``RELSCORE_*`` environment (``relscore stack
up`` with the same variables). Every run uses its own topic names (``bench-<run>-...``), its
own consumer groups and its own worker data directory, so it reads nothing another run or the
test suite wrote; ``cleanup_topics`` deletes them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import pickle
import random
import re
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from scorers.timefmt import format_ms
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RELSCORE_BENCH_CACHE", "/tmp/relscore-bench-cache"))
FILE_TOPICS = ("purchases", "support-tickets", "interactions")


# ------------------------------------------------------------------ settings and names


def base_settings() -> Settings:
    """The stack given by ``RELSCORE_*`` (bootstrap, Redis URL, partitions ...)."""
    return Settings.from_env()


def new_run_id(tag: str) -> str:
    return f"{tag}-{time.strftime('%H%M%S')}-{os.getpid()}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def input_topic_fields(prefix: str) -> dict[str, str]:
    return {
        "topic_purchases": f"{prefix}-purchases",
        "topic_tickets": f"{prefix}-support-tickets",
        "topic_interactions": f"{prefix}-interactions",
    }


def app_settings(base: Settings, inputs_prefix: str, app_id: str, work_dir: Path,
                 **overrides: Any) -> Settings:
    """Worker settings: the given input topics, a fresh app id (consumer group, changelog),
    fresh output topics, a free web port and a data directory of its own."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fields: dict[str, Any] = {
        **input_topic_fields(inputs_prefix),
        "app_id": app_id,
        "topic_scores": f"{app_id}-scores",
        "topic_alerts": f"{app_id}-alerts",
        "topic_dlq": f"{app_id}-dlq",
        "topic_rekey": f"{app_id}-rekey",
        "topic_owners": f"{app_id}-owners",
        "topic_notify_dlq": f"{app_id}-notify-dlq",
        "topic_alert_actions": f"{app_id}-alert-actions",
        "web_port": free_port(),
        "web_host": "127.0.0.1",
        "data_dir": str(work_dir / app_id),
        "redis_prefix": f"{app_id}:",
    }
    fields.update(overrides)
    return base.override(**fields)


def topic_name(settings: Settings, file_topic: str) -> str:
    return {
        "purchases": settings.topics.purchases,
        "support-tickets": settings.topics.tickets,
        "interactions": settings.topics.interactions,
    }[file_topic]


# ------------------------------------------------------------------ event data


@dataclass(frozen=True, slots=True)
class Msg:
    """One input message: file topic, key, value bytes, and the event-file line."""

    topic: str
    key: bytes | None
    value: bytes
    line: bytes


def simulated_messages(customers: int, events: int, seed: int = 1) -> tuple[list[Msg], str]:
    """``events`` messages of a realistic population of ``customers`` (send order).

    Uses :mod:`streams.laptop.simulator` (personas, late events, duplicates, a few malformed
    messages) with enough simulated days to reach ``events``, then keeps the first
    ``events``. Cached under ``$RELSCORE_BENCH_CACHE`` (the simulator is deterministic).
    Returns the messages and a one-line description.
    """
    try:
        from streams.laptop import simulator
    except ImportError:  # pragma: no cover - the simulator is optional for the benchmarks
        simulator = None  # type: ignore[assignment]
    if simulator is None:
        return synthetic_history(customers, events, seed), "synthetic history (no simulator)"
    source = Path(simulator.__file__).read_bytes()
    digest = hashlib.sha1(source + f"{customers}:{events}:{seed}".encode()).hexdigest()[:16]
    cache = CACHE / f"sim-{customers}-{events}-{seed}-{digest}.pickle"
    if cache.exists():
        with cache.open("rb") as handle:
            data: tuple[list[Msg], str] = pickle.load(handle)
            return data
    days = max(1, math.ceil(events / customers * 1.1))
    while True:
        sim = simulator.simulate(simulator.SimSpec(customers=customers, days=days, seed=seed))
        if len(sim.records) >= events:
            break
        days = math.ceil(days * events / max(1, len(sim.records)) * 1.1) + 1
    records = sim.records[:events]
    messages = [
        Msg(r.topic, None if r.key is None else r.key.encode(), r.value, r.line())
        for r in records
    ]
    kinds: dict[str, int] = {}
    topics: dict[str, int] = {}
    for r in records:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
        topics[r.topic] = topics.get(r.topic, 0) + 1
    described = (
        f"streams.laptop.simulator: {customers} customers, first {len(messages)} records of "
        f"{days} simulated days; topics {topics}; kinds {kinds}"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump((messages, described), handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(cache)
    return messages, described


_CHANNELS = ("login", "login", "feature_use", "email", "email", "meeting", "call", "chat",
             "survey")
_PRODUCTS = ("crm", "billing", "analytics", "helpdesk", "payments", "api", "sso")


def synthetic_event(cid: str, n: int, ts_ms: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One plausible event for customer ``cid`` (its ``n``-th): 65% interactions, 20%
    purchases, 15% tickets, as the simulator's mix roughly is."""
    roll = rng.random()
    base: dict[str, Any] = {"event_id": f"{cid}-e{n}", "customer_id": cid, "ts": ts_ms}
    if roll < 0.65:
        channel = rng.choice(_CHANNELS)
        base["channel"] = channel
        base["ts"] = format_ms(ts_ms)
        if channel in ("meeting", "call", "chat"):
            base["sentiment"] = round(rng.uniform(-0.6, 0.9), 2)
        if channel == "feature_use":
            base["product_id"] = rng.choice(_PRODUCTS)
        if channel == "survey":
            base["nps"] = rng.randint(3, 10)
            base["csat"] = rng.randint(2, 5)
        return "interactions", base
    if roll < 0.85:
        base.update(order_id=f"{cid}-o{n}", amount=round(rng.uniform(50, 900), 2),
                    currency="USD", product_id=rng.choice(_PRODUCTS))
        return "purchases", base
    base.update(ticket_id=f"{cid}-T{n % 3}", status=rng.choice(("opened", "updated", "resolved")),
                priority=rng.choice(("low", "normal", "normal", "high")))
    return "support-tickets", base


def synthetic_history(customers: int, events: int, seed: int = 1) -> list[Msg]:
    """A fallback population: ``events`` events spread over ``customers`` and 10 days."""
    rng = random.Random(seed)
    start = 1_780_272_000_000
    span = 10 * 86_400_000
    out: list[Msg] = []
    counters = [0] * customers
    for i in range(events):
        c = rng.randrange(customers)
        counters[c] += 1
        cid = f"cust-{c:07d}"
        topic, event = synthetic_event(cid, counters[c], start + span * i // events, rng)
        value = orjson.dumps(event)
        out.append(Msg(topic, cid.encode(), value, orjson.dumps({"topic": topic, **event})))
    return out


def one_event_each(customers: int, start_ms: int, seed: int = 7) -> Iterator[Msg]:
    """One event for each of ``customers`` customers (the memory benchmark's population)."""
    rng = random.Random(seed)
    for c in range(customers):
        cid = f"mem-{c:07d}"
        topic, event = synthetic_event(cid, 1, start_ms + c, rng)
        yield Msg(topic, cid.encode(), orjson.dumps(event), b"")


def write_jsonl(path: Path, messages: Iterable[Msg]) -> None:
    with path.open("wb") as handle:
        for m in messages:
            handle.write(m.line + b"\n")


# ------------------------------------------------------------------ Kafka helpers


def create_topics(settings: Settings, names: Sequence[str], partitions: int,
                  configs: dict[str, dict[str, str]] | None = None) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from streams.kafka_clients import kafka_client_config

    admin = KafkaAdminClient(request_timeout_ms=30000, **kafka_client_config(settings.kafka))
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([
                NewTopic(name=name, num_partitions=partitions,
                         replication_factor=settings.topics.replication_factor,
                         topic_configs=(configs or {}).get(name, {}))
                for name in names
            ])
    finally:
        admin.close()


def cleanup_topics(settings: Settings, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix`` (the run's own topics)."""
    from kafka.admin import KafkaAdminClient

    from streams.kafka_clients import kafka_client_config

    admin = KafkaAdminClient(request_timeout_ms=30000, **kafka_client_config(settings.kafka))
    try:
        names = [t for t in admin.list_topics() if t.startswith(prefix)]
        if names:
            with contextlib.suppress(Exception):
                admin.delete_topics(names)
        return len(names)
    finally:
        admin.close()


def end_offsets_total(settings: Settings, topics: Sequence[str]) -> int:
    from kafka import KafkaConsumer, TopicPartition

    from streams.kafka_clients import kafka_client_config

    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **kafka_client_config(settings.kafka))
    try:
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(consumer.partitions_for_topic(t) or set())]
        return int(sum(consumer.end_offsets(tps).values()))
    finally:
        consumer.close()


async def produce(settings: Settings, items: Iterable[tuple[str, bytes | None, bytes]],
                  *, acks: int | str = 1) -> tuple[int, float]:
    """Send ``(topic, key, value)`` items as fast as the broker takes them (aiokafka,
    batched); returns (count, seconds)."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka_clients import aiokafka_client_config

    producer = AIOKafkaProducer(acks=acks, linger_ms=20, max_batch_size=512 * 1024,
                                **aiokafka_client_config(settings.kafka))
    await producer.start()
    started = time.perf_counter()
    count = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        for topic, key, value in items:
            pending.append(await producer.send(topic, value, key=key))
            count += 1
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count, time.perf_counter() - started


def preload(settings: Settings, messages: Sequence[Msg]) -> tuple[int, float]:
    """Create the three input topics of ``settings`` and fill them, keyed as given."""
    create_topics(settings, list(settings.topics.inputs), settings.topics.partitions)
    items = ((topic_name(settings, m.topic), m.key, m.value) for m in messages)
    return asyncio.run(produce(settings, items))


# ------------------------------------------------------------------ worker helpers

_LOG_TIME = re.compile(rb"^\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def log_time(line: bytes) -> float | None:
    """The epoch time of a worker log line (``2026-11-28 10:04:02,123 ...``), if any."""
    match = _LOG_TIME.match(line)
    if not match:
        return None
    return datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def wait_log(worker: WorkerProcess, needle: bytes, timeout: float, poll: float = 0.05,
             start_at: int = 0) -> tuple[float, float | None]:
    """Wait until ``needle`` appears in the worker's log (after byte ``start_at``).

    Returns (the wall time it was seen, the time stamped on the log line or None).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process is not None and worker.process.poll() is not None:
            raise RuntimeError(f"worker exited with {worker.process.returncode}:\n"
                               f"{worker.log_tail()}")
        data = worker.log_path.read_bytes()[start_at:]
        index = data.find(needle)
        if index >= 0:
            seen = time.time()
            line_start = data.rfind(b"\n", 0, index) + 1
            return seen, log_time(data[line_start:index])
        time.sleep(poll)
    raise TimeoutError(f"{needle!r} not in the worker log after {timeout:.0f} s:\n"
                       f"{worker.log_tail()}")


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_load() -> str:
    with contextlib.suppress(OSError):
        one, five, _ = Path("/proc/loadavg").read_text().split()[:3]
        return f"load average {one} (1 min), {five} (5 min) on {os.cpu_count()} CPUs"
    return "load unknown"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# ------------------------------------------------------------------ the agent body, offline


class AgentLoop:
    """The scoring agent's body without Kafka or Faust:
    ``streams.runtime.batch_scorer.BatchScorer`` fed batches of Records, with a dict standing in
    for the table (rows written after each batch, as the agent does once Kafka has acknowledged
    the batch's outputs).

    ``highwaters`` are the end offsets of the input partitions, as the worker passes its
    consumer's highwaters, so the event-time clocks wait for backlogged topics the same way.
    """

    def __init__(self, settings: Settings, records: Sequence[Any]) -> None:
        from scorers.config import load_config
        from scorers.schedule import DueSchedule
        from streams.runtime.band_gauge import BandCounts
        from streams.runtime.batch_scorer import BatchScorer, InputProgress
        from streams.runtime.processor import Processor

        self.settings = settings
        self.processor = Processor(settings, load_config(settings.worker.config_path))
        real_rescore = self.processor.rescore

        def counting_rescore(*args: Any, **kwargs: Any) -> Any:
            self.rescores += 1
            return real_rescore(*args, **kwargs)

        self.processor.rescore = counting_rescore  # type: ignore[method-assign]
        self.schedule = DueSchedule(settings.worker.allowed_lateness_ms)
        self.bands = BandCounts()
        topics = (*settings.topics.inputs, settings.topics.rekey)
        self.progress = InputProgress(topics)
        self.highwaters: dict[tuple[str, int], int | None] = {
            (topic, partition): 0
            for topic in topics
            for partition in range(settings.topics.partitions)
        }
        for record in records:
            tp = (record.topic, record.partition)
            self.highwaters[tp] = max(self.highwaters.get(tp) or 0, record.offset + 1)
        self.progress.reset({tp: 0 for tp in self.highwaters})
        self.scorer = BatchScorer(self.processor, self.schedule, self.bands, self.progress)
        self.table: dict[bytes, bytes] = {}
        self.emitted = 0
        self.events = 0
        self.rescores = 0

    def process(self, batch: Sequence[Any]) -> None:
        result = self.scorer.process(batch, self.table.get, self.highwaters)
        self.events += len(batch)
        self.emitted += len(result.emits) + len(result.updates)
        self.table.update(result.updates)


def records_for(settings: Settings, messages: Sequence[Msg], now_ms: int) -> list[Any]:
    """The Records a worker would see for ``messages`` (partition by key, as Kafka does)."""
    from streams.runtime.partitioning import partition_for
    from streams.runtime.processor import Record

    offsets: dict[tuple[str, int], int] = {}
    out = []
    for index, m in enumerate(messages):
        topic = topic_name(settings, m.topic)
        partition = (partition_for(m.key, settings.topics.partitions) if m.key is not None
                     else index % settings.topics.partitions)
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        out.append(Record(topic=topic, partition=partition, offset=offset, key=m.key,
                          value=m.value, timestamp_ms=now_ms, headers=()))
    return out


# ------------------------------------------------------------------ py-spy


PYSPY = ROOT / ".venv" / "bin" / "py-spy"
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*?)(?::(?P<line>\d+))?\)$")


def start_pyspy(pid: int, out: Path, rate: int = 100,
                duration: float | None = None) -> Any:
    """``py-spy record`` on ``pid`` in raw (collapsed stacks) format; stop with
    :func:`stop_pyspy` (SIGINT makes it write the file) unless ``duration`` is given."""
    import shutil
    import subprocess

    exe = str(PYSPY) if PYSPY.exists() else shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    command = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
               "-o", str(out), "--nonblocking"]
    if duration is not None:
        command += ["--duration", str(int(duration))]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_pyspy(proc: Any, timeout: float = 60.0) -> str:
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=timeout)
    return output.decode(errors="replace") if output else ""


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


AREAS = (
    ("scorers/", "model (scorers/)"),
    ("streams/", "relscore adapter (streams/)"),
    ("faust/", "faust"),
    ("mode/", "mode (faust's service lib)"),
    ("aiokafka/", "aiokafka"),
    ("kafka/", "kafka-python"),
    ("prometheus_client/", "prometheus_client"),
    ("redis/", "redis client"),
    ("orjson", "orjson"),
    ("asyncio/", "asyncio"),
)


def _area(path: str) -> str:
    for marker, name in AREAS:
        if marker in path:
            return name
    return "other (stdlib, C, ...)"


def summarise_pyspy(raw: Path, top: int = 15) -> str:
    """Self and inclusive sample shares per function, and self share per area."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    area_counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append(f"{match['func']} ({_short(match['path'])})")
            else:
                frames.append(frame)
        leaf = frames[-1]
        self_counts[leaf] = self_counts.get(leaf, 0) + count
        area_counts[_area(leaf)] = area_counts.get(_area(leaf), 0) + count
        for name in set(frames):
            incl_counts[name] = incl_counts.get(name, 0) + count
    if not total:
        return "(no samples)"
    out = [f"{total} samples (active threads only)", "", f"top {top} by self time:"]
    for name, count in sorted(self_counts.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {count / total:6.1%}  {name}")
    out += ["", f"top {top} by inclusive time (function and what it calls):"]
    for name, count in sorted(incl_counts.items(), key=lambda kv: -kv[1])[:top * 2]:
        out.append(f"  {count / total:6.1%}  {name}")
    out += ["", "self time by area:"]
    for name, count in sorted(area_counts.items(), key=lambda kv: -kv[1]):
        out.append(f"  {count / total:6.1%}  {name}")
    return "\n".join(out)


def scrape_counters(settings: Settings) -> dict[str, float]:
    """relscore's event and score-update counters from the worker's /metrics page
    (``events:<outcome>`` summed over topics, ``score_updates:<reason>``); {} if unreachable."""
    import urllib.request

    url = f"http://127.0.0.1:{settings.web.port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    pattern = re.compile(r'^(relscore_events_total|relscore_score_updates_total)\{(.*)\} (\S+)$')
    for line in text.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match[2]))
        if match[1] == "relscore_events_total":
            name = f"events:{labels.get('outcome')}"
        else:
            name = f"score_updates:{labels.get('reason')}"
        out[name] = out.get(name, 0.0) + float(match[3])
    return out
