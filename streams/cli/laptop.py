"""The laptop kit's commands: ``relscore demo`` and ``relscore simulate``."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from scorers.config import DAY_MS
from scorers.timefmt import format_ms
from streams.cli.context import (
    EXIT_UNAVAILABLE,
    CliError,
    load_scoring_config,
    load_settings,
    load_stack_settings,
)


def _quiet_clients() -> None:
    """Keep the Kafka client's connection chatter out of a person's terminal."""
    for name in ("kafka", "aiokafka"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in ("streams.laptop.stack", "streams.runtime.topic_layout"):
        logging.getLogger(name).setLevel(logging.WARNING)


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.laptop.demo import run_demo

    _quiet_clients()
    settings = load_settings()
    result = run_demo(settings, load_scoring_config(settings), stack=load_stack_settings(),
                      keep_stack=args.keep_stack, customers=args.customers, days=args.days,
                      seed=args.seed, rate=args.rate)
    return result.code


def simulation_start_ms(text: str | None, realtime: bool) -> int:
    """The first event time of a simulation: ``--start`` (a date, an RFC 3339 time or
    ``now``), else the simulator's epoch, or today at 00:00 UTC in real time."""
    from scorers.timefmt import parse_rfc3339_ms
    from streams.laptop.simulator import SIM_EPOCH_MS

    now_ms = time.time_ns() // 1_000_000
    if text is None:
        # In real time, the simulated days are today and the next ones (from 00:00 UTC).
        return now_ms - now_ms % DAY_MS if realtime else SIM_EPOCH_MS
    if text == "now":
        return now_ms // 1000 * 1000
    try:
        return parse_rfc3339_ms(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError as exc:
        raise CliError(f"--start {text!r}: {exc} (or a date like 2026-06-01, or 'now')") from exc


def cmd_simulate(args: argparse.Namespace) -> int:
    from streams.laptop.simulator import PERSONAS, SimSpec, describe, produce_simulation, simulate

    _quiet_clients()
    settings = load_settings()
    if args.customers < 1 or args.days < 1:
        raise CliError("--customers and --days must be at least 1")
    if args.rate < 0:
        raise CliError("--rate must be >= 0 (0: as fast as possible)")
    spec = SimSpec(customers=args.customers, days=args.days, seed=args.seed,
                   start_ms=simulation_start_ms(args.start, args.realtime))
    now_ms = time.time_ns() // 1_000_000
    if not args.realtime and args.out is None and \
            spec.end_ms > now_ms + settings.worker.max_future_skew_ms:
        raise CliError(
            f"event time would run to {format_ms(spec.end_ms)}, past the current time, so the "
            "worker would refuse the later events as future_timestamp; use fewer --days, an "
            "earlier --start, or --realtime"
        )
    sim = simulate(spec)
    print(describe(sim), flush=True)
    if args.truth:
        import orjson

        truth = {"personas": sim.personas, "segments": sim.segments,
                 "customers_by_persona": {p: sim.customers_of(p) for p in PERSONAS}}
        Path(args.truth).write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"ground truth (customer -> persona) written to {args.truth}")
    if args.outcomes:
        import orjson

        Path(args.outcomes).write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in sim.outcomes()))
        print(f"outcomes (churning customers churned by the last day) written to "
              f"{args.outcomes} (relscore backtest FILE --cut T --outcomes it)")
    if args.out:
        out = Path(args.out)
        try:
            out.write_bytes(b"".join(line + b"\n" for line in sim.lines()))
        except OSError as exc:
            raise CliError(f"cannot write {out}: {exc.strerror or exc}") from exc
        print(f"wrote {len(sim.records)} lines to {out} (score them: relscore score {out} "
              "--out DIR; send them: relscore produce FILE --no-validate)")
        return 0
    from kafka.errors import KafkaError

    from streams.kafka_clients import KafkaSetupError
    from streams.laptop.simulator import ProduceProgress
    from streams.runtime.topic_layout import ensure_topics

    try:
        ensure_topics(settings)
    except KafkaSetupError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    pace = "in real time (Ctrl-C stops)" if args.realtime else (
        f"at {args.rate:g} messages/s" if args.rate > 0 else "as fast as possible")
    print(f"sending to {', '.join(settings.topics.inputs)} on {settings.kafka.bootstrap} {pace}",
          flush=True)
    shown = [time.monotonic()]

    def report(progress: ProduceProgress) -> None:
        if progress.done or time.monotonic() - shown[0] >= 5:
            shown[0] = time.monotonic()
            record = sim.records[progress.sent - 1] if progress.sent else None
            at = format_ms(record.send_ms) if record else "-"
            print(f"  sent {progress.sent:,}/{progress.total:,}  event time {at}", flush=True)

    anchor = min(now_ms, spec.end_ms) if args.realtime and args.start is None else None
    if anchor is not None and anchor > spec.start_ms:
        print(f"  event time follows the wall clock: messages before {format_ms(anchor)} "
              "go out at once", flush=True)
    progress = ProduceProgress()
    try:
        produce_simulation(settings, sim, rate=args.rate, realtime=args.realtime,
                           on_sent=report, anchor_ms=anchor, progress=progress)
    except KafkaError as exc:
        raise CliError(f"cannot send to Kafka at {settings.kafka.bootstrap}: {exc}",
                       EXIT_UNAVAILABLE) from exc
    except KeyboardInterrupt:
        print(f"interrupted: sent {progress.sent:,} of {progress.total:,} messages")
        return 130
    seconds = progress.finished - progress.started
    rate = progress.sent / seconds if seconds > 0 else 0.0
    print(f"sent {progress.sent:,} messages in {seconds:.1f} s ({rate:,.0f}/s); "
          f"{progress.errors} failed")
    if progress.errors:
        print(f"  last error: {progress.last_error}")
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="stack up, worker, simulated customers, readable summary")
    demo.add_argument("--keep-stack", action="store_true",
                      help="leave Kafka, Redis and the demo's worker running afterwards")
    demo.add_argument("--customers", type=int, default=48, help="population size (48)")
    demo.add_argument("--days", type=int, default=90, help="days of event time (90)")
    demo.add_argument("--seed", type=int, default=7, help="simulation seed (7)")
    demo.add_argument("--rate", type=float, default=150.0,
                      help="messages per second of wall time (150; 0: as fast as possible)")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser(
        "simulate", help="send a simulated customer population to the input topics",
        description="Loyal, slipping, churning and recovering customers, with late, duplicate "
        "and malformed messages; deterministic for a seed. Event time starts at --start and "
        "runs --days; by default it runs faster than the wall clock (--rate messages a second).",
    )
    sim.add_argument("--customers", type=int, default=50, help="population size (50)")
    sim.add_argument("--days", type=int, default=90, help="days of event time (90)")
    sim.add_argument("--rate", type=float, default=500.0,
                     help="messages per second of wall time (500; 0: as fast as possible)")
    sim.add_argument("--seed", type=int, default=1, help="random seed (1)")
    sim.add_argument("--realtime", action="store_true",
                     help="event time follows the wall clock: the days start today at 00:00 "
                     "UTC and what is already past goes out at once (with --start, event time "
                     "runs at wall-clock speed from there)")
    sim.add_argument("--start", help="first day of event time: 2026-06-01 (default), an RFC "
                     "3339 time, or 'now'")
    sim.add_argument("--out", help="write the messages to this JSONL event file instead")
    sim.add_argument("--truth", help="write the customers' personas (JSON) to this file")
    sim.add_argument("--outcomes", help="write the truth as backtest outcomes (JSONL): "
                     "churning customers churned by the last simulated day, no one else")
    sim.set_defaults(func=cmd_simulate)
