"""What a worker's memory holds after scoring a backlog: tracemalloc inside a live worker.

    .venv/bin/python bench/diag_memory.py [--customers 20000]

Starts ``relscore worker`` under tracemalloc (this file, run as ``--worker``, enables it and
writes a snapshot when a request file appears), produces one event for each of
``--customers`` customers, waits until the worker has caught up, then asks for the snapshot:
live Python allocations by file and by line, beside the process RSS. The difference between
RSS and live allocations is memory the
allocators keep (freed buffers, fragmentation), not state. tracemalloc slows the worker down.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stackbench import (
    app_settings,
    base_settings,
    cleanup_topics,
    create_topics,
    machine_load,
    new_run_id,
    one_event_each,
    produce,
    rss_kib,
    topic_name,
    wait_log,
)

from streams.laptop.worker_process import WorkerProcess
from streams.runtime.group_offsets import group_lag

TRACE_ENV = "RELSCORE_BENCH_TRACE_OUT"


def worker_main() -> None:  # runs in the child
    tracemalloc.start(1)
    out = Path(os.environ[TRACE_ENV])

    request = out.with_suffix(".request")

    def dump() -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        by_file = snapshot.statistics("filename")
        by_line = snapshot.statistics("lineno")
        total = sum(s.size for s in by_file)
        blocks = sum(s.count for s in by_file)
        lines = [f"traced live Python allocations: {total / 2**20:.1f} MiB in {blocks} blocks; "
                 f"process RSS {rss_kib(os.getpid()) / 1024:.1f} MiB", "", "by file:"]
        for stat in by_file[:20]:
            name = stat.traceback[0].filename.split("site-packages/")[-1]
            lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks  {name}")
        lines += ["", "by line:"]
        for stat in by_line[:20]:
            frame0 = stat.traceback[0]
            name = frame0.filename.split("site-packages/")[-1]
            lines.append(f"  {stat.size / 2**20:8.1f} MiB {stat.count:9d} blocks  "
                         f"{name}:{frame0.lineno}")
        out.write_text("\n".join(lines) + "\n")

    def watch() -> None:
        # mode's Worker owns SIGUSR1/SIGUSR2, so the request is a file, polled by a thread.
        while True:
            if request.exists():
                request.unlink()
                dump()
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    from streams.cli import main

    sys.exit(main(["worker"]))


class TracedWorker(WorkerProcess):
    def __init__(self, settings: Any, log_path: Path, trace_out: Path) -> None:
        super().__init__(settings, log_path)
        self.trace_out = trace_out

    def start(self) -> TracedWorker:
        env = {**os.environ, **self.settings.to_env(), TRACE_ENV: str(self.trace_out)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--worker"], stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True)
        return self

    def snapshot(self, timeout: float = 120.0) -> str:
        assert self.process is not None
        self.trace_out.unlink(missing_ok=True)
        self.trace_out.with_suffix(".request").touch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.trace_out.exists() and self.trace_out.stat().st_size > 0:
                time.sleep(0.5)
                return self.trace_out.read_text()
            time.sleep(0.5)
        return "(no snapshot)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--budget", type=float, default=600.0)
    args = parser.parse_args(argv)
    base = base_settings()
    run = new_run_id("mdiag")
    work = Path(tempfile.mkdtemp(prefix=f"relscore-{run}-"))
    settings = app_settings(base, f"bench-{run}-in", f"bench-{run}-app", work)
    create_topics(settings, list(settings.topics.inputs), settings.topics.partitions)
    print(f"run {run}; work dir {work}; {machine_load()}")
    worker = TracedWorker(settings, work / "worker.log", work / "trace.txt").start()
    try:
        wait_log(worker, b"Worker ready", 240)
        time.sleep(3)
        print("idle:\n" + worker.snapshot())
        start_ms = time.time_ns() // 1_000_000 - 2 * 86_400_000
        items = ((topic_name(settings, m.topic), m.key, m.value)
                 for m in one_event_each(args.customers, start_ms))
        count, _ = asyncio.run(produce(settings, items))
        deadline = time.time() + args.budget
        lag = count
        while time.time() < deadline and (lag := group_lag(settings,
                                                           list(settings.topics.inputs))):
            time.sleep(2)
        print(f"after scoring {count - lag} one-event customers (lag {lag}):\n"
              + worker.snapshot())
    finally:
        worker.stop(timeout=30)
        cleanup_topics(base, f"bench-{run}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main()
    sys.exit(main())
