"""The ``relscore`` command line: worker, project, stack, score, produce, tail, demo,
simulate, customer."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scorers.config import DAY_MS, ConfigError, ScoringConfig, load_config
from scorers.timefmt import format_ms
from streams.settings import Settings, SettingsError

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


class CliError(Exception):
    """A user-facing failure: printed as ``relscore: <message>`` with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc


def _config(settings: Settings) -> ScoringConfig:
    try:
        return load_config(settings.config_path)
    except ConfigError as exc:
        raise CliError(f"scoring config refused: {exc}") from exc


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    settings = _settings()
    return run_worker(settings, _config(settings))


def cmd_project(args: argparse.Namespace) -> int:
    import asyncio

    from aiokafka.errors import KafkaError
    from prometheus_client import start_http_server

    from streams import metrics
    from streams.projector import run_projector

    settings = _settings()
    cfg = _config(settings)
    port = settings.web_port + 1 if args.metrics_port is None else args.metrics_port
    try:
        start_http_server(port, addr=settings.web_host, registry=metrics.REGISTRY)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on {settings.web_host}:{port} ({exc}); "
                       "choose another with --metrics-port") from exc
    logging.getLogger(__name__).info("projector metrics on http://%s:%d/metrics",
                                     settings.web_host, port)
    try:
        asyncio.run(run_projector(settings, cfg.alerts.threshold))
    except KafkaError as exc:
        raise CliError(
            f"cannot read {settings.topic_scores} from Kafka at {settings.kafka_bootstrap} "
            f"({exc.__class__.__name__}: {exc}); check that the broker runs and "
            "RELSCORE_KAFKA_BOOTSTRAP (and the RELSCORE_KAFKA_SASL_* / SSL settings) reach it",
            EXIT_UNAVAILABLE,
        ) from exc
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    from streams.stack import StackError, stack_down, stack_status, stack_up

    settings = _settings()
    try:
        if args.action == "up":
            status = stack_up(settings, echo=print)
        elif args.action == "down":
            stack_down(settings, wipe=args.wipe, echo=print)
            status = stack_status(settings)
        else:
            status = stack_status(settings)
    except StackError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    state = {True: "up", False: "down"}
    print(f"kafka  {state[status.kafka_up]:4}  {status.kafka_bootstrap}")
    print(f"redis  {state[status.redis_up]:4}  {status.redis_url}")
    print(f"run dir {status.run_dir}")
    if args.action == "status" and not (status.kafka_up and status.redis_up):
        return 1
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from scorers.events import Limits
    from streams.offline import read_lines, score_lines, write_outputs

    settings = _settings()
    cfg = _config(settings)
    path = Path(args.file)
    now_ms = time.time_ns() // 1_000_000
    started = time.perf_counter()
    try:
        result = score_lines(
            read_lines(path), cfg, reference_ms=now_ms,
            limits=Limits(settings.max_payload_bytes, settings.max_future_skew_ms),
            partitions=settings.partitions, allowed_lateness_ms=settings.allowed_lateness_ms,
        )
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    elapsed = time.perf_counter() - started
    out = Path(args.out)
    try:
        write_outputs(result, out, format_ms(now_ms))
    except OSError as exc:
        raise CliError(f"cannot write to {out}: {exc.strerror or exc}") from exc
    bands: dict[str, int] = {}
    for message in result.scores.values():
        bands[message["band"]] = bands.get(message["band"], 0) + 1
    rate = result.events / elapsed if elapsed > 0 else 0.0
    print(
        f"scored {result.events} events of {len(result.scores)} customers "
        f"({result.duplicates} duplicates skipped, {len(result.rejects)} lines rejected) "
        f"in {elapsed:.2f} s ({rate:,.0f} events/s)"
    )
    print("bands: " + ", ".join(
        f"{band} {bands.get(band, 0)}" for band in ("excellent", "good", "fair", "poor")))
    print(f"alerts: {len(result.alerts)}; outputs in {out}/scores.jsonl, alerts.jsonl, dlq.jsonl")
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.producer import produce_file

    settings = _settings()
    try:
        sent, rejected = produce_file(settings, Path(args.file), topic=args.topic,
                                      validate=not args.no_validate)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    print(f"sent {sent} events; rejected {len(rejected)} lines before sending")
    for number, error in rejected[:20]:
        print(f"  line {number}: {error}")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from streams.tail import tail

    settings = _settings()
    tail(settings, args.what, customer=args.customer, follow=not args.no_follow,
         from_beginning=args.from_beginning, limit=args.max)
    return 0


def _quiet_clients() -> None:
    """Keep the Kafka client's connection chatter out of a person's terminal."""
    for name in ("kafka", "aiokafka"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for name in ("streams.stack", "streams.topics"):
        logging.getLogger(name).setLevel(logging.WARNING)


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    _quiet_clients()
    settings = _settings()
    result = run_demo(settings, _config(settings), keep_stack=args.keep_stack,
                      customers=args.customers, days=args.days, seed=args.seed, rate=args.rate)
    return result.code


def _start_ms(text: str | None, realtime: bool) -> int:
    from scorers.timefmt import parse_rfc3339_ms
    from streams.simulator import SIM_EPOCH_MS

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
    from streams.simulator import PERSONAS, SimSpec, describe, produce_simulation, simulate

    _quiet_clients()
    settings = _settings()
    if args.customers < 1 or args.days < 1:
        raise CliError("--customers and --days must be at least 1")
    if args.rate < 0:
        raise CliError("--rate must be >= 0 (0: as fast as possible)")
    spec = SimSpec(customers=args.customers, days=args.days, seed=args.seed,
                   start_ms=_start_ms(args.start, args.realtime))
    now_ms = time.time_ns() // 1_000_000
    if not args.realtime and args.out is None and \
            spec.end_ms > now_ms + settings.max_future_skew_ms:
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

    from streams.simulator import ProduceProgress
    from streams.topics import TopicLayoutError, ensure_topics

    try:
        ensure_topics(settings)
    except TopicLayoutError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    pace = "in real time (Ctrl-C stops)" if args.realtime else (
        f"at {args.rate:g} messages/s" if args.rate > 0 else "as fast as possible")
    print(f"sending to {', '.join(settings.input_topics)} on {settings.kafka_bootstrap} {pace}",
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
        raise CliError(f"cannot send to Kafka at {settings.kafka_bootstrap}: {exc}",
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


def _service_url(settings: Settings) -> str:
    host = settings.web_host
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}"


def customer_lines(body: dict[str, object]) -> list[str]:
    """``GET /customers/{id}``'s answer, for a person."""
    from typing import Any, cast

    b = cast(dict[str, Any], body)
    score = b.get("score")
    lines = [f"customer   {b.get('customer_id')}"
             + (f"  (segment {b['segment']})" if b.get("segment") else "")]
    if isinstance(score, int | float):
        state = "below the alert threshold" if b.get("below_threshold") else "not alerting"
        lines.append(f"score      {score:.1f}  {b.get('band', '?')}  ({state})")
    lines.append(f"as of      {b.get('as_of')}  events seen {b.get('events_seen')}  "
                 f"confidence {b.get('confidence')}  open tickets {b.get('open_tickets', 0)}")
    components = b.get("components") or {}
    if components:
        lines.append("components")
        for name, value in components.items():
            if isinstance(value, int | float):
                bar = "#" * round(value / 5)
                lines.append(f"  {name:<13} {value:5.1f}  {bar}")
            else:
                lines.append(f"  {name:<13}     -  (no data yet)")
    drivers = b.get("drivers") or []
    if drivers:
        lines.append("what pulls the score down")
        for driver in drivers:
            lines.append(f"  - {driver.get('detail')}  ({driver.get('component')}, "
                         f"-{driver.get('impact')} points)")
    return lines


def cmd_customer(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    settings = _settings()
    base = _service_url(settings)
    url = f"{base}/customers/{urllib.parse.quote(args.customer_id, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", "")
        except ValueError:
            detail = ""
        if exc.code == 404:
            raise CliError(f"customer {args.customer_id!r} is unknown to the service at {base}"
                           f" ({detail or 'no events seen'})", 1) from exc
        code = EXIT_UNAVAILABLE if exc.code >= 500 else EXIT_USAGE
        raise CliError(f"{url} answered {exc.code}: {detail or exc.reason}", code) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(
            f"cannot reach the relscore service at {base} ({reason}); is a worker running "
            "(relscore worker)? RELSCORE_WEB_HOST and RELSCORE_WEB_PORT say where it listens",
            EXIT_UNAVAILABLE,
        ) from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise CliError(f"{url} did not answer JSON", EXIT_UNAVAILABLE) from exc
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        for line in customer_lines(body):
            print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relscore",
        description="Real-time customer relationship-health scoring on Kafka. "
        "Settings come from RELSCORE_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run one scoring worker (joins the consumer group)")
    worker.set_defaults(func=cmd_worker)

    project = sub.add_parser(
        "project", help="keep the Redis read model on its own (with RELSCORE_PROJECTOR=off)",
        description="Consume the score topic into Redis, as the worker's projector task does; "
        "run it when the workers have RELSCORE_PROJECTOR=off, to keep their CPU for scoring.",
    )
    project.add_argument("--metrics-port", type=int, default=None,
                         help="port of its /metrics (default RELSCORE_WEB_PORT + 1)")
    project.set_defaults(func=cmd_project)

    stack = sub.add_parser("stack", help="local Kafka (KRaft) + Redis for development and tests")
    stack.add_argument("action", choices=("up", "down", "status"))
    stack.add_argument("--wipe", action="store_true", help="with down: delete Kafka/Redis data")
    stack.set_defaults(func=cmd_stack)

    score = sub.add_parser("score", help="score a JSONL event file offline with the same model")
    score.add_argument("file", help="events, one JSON object a line, each with a 'topic' field")
    score.add_argument("--out", required=True, help="directory for scores/alerts/dlq .jsonl")
    score.set_defaults(func=cmd_score)

    produce = sub.add_parser("produce", help="send a JSONL event file to the input topics")
    produce.add_argument("file")
    produce.add_argument("--topic", help="send every line to this topic (else each line's 'topic')")
    produce.add_argument("--no-validate", action="store_true",
                         help="send lines as they are (to exercise the dead-letter topic)")
    produce.set_defaults(func=cmd_produce)

    tail_cmd = sub.add_parser("tail", help="print score or alert messages as they arrive")
    tail_cmd.add_argument("what", choices=("scores", "alerts", "dlq"))
    tail_cmd.add_argument("--customer", help="only this customer id")
    tail_cmd.add_argument("--from-beginning", action="store_true")
    tail_cmd.add_argument("--no-follow", action="store_true", help="stop at the end of the topic")
    tail_cmd.add_argument("--max", type=int, default=None, help="stop after N messages")
    tail_cmd.set_defaults(func=cmd_tail)

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
    sim.set_defaults(func=cmd_simulate)

    customer = sub.add_parser(
        "customer", help="ask the running service for one customer's score and why",
        description="GET /customers/{id} from the worker at RELSCORE_WEB_HOST (127.0.0.1 when "
        "unset or 0.0.0.0) and RELSCORE_WEB_PORT.",
    )
    customer.add_argument("customer_id")
    customer.add_argument("--json", action="store_true", help="print the raw JSON answer")
    customer.add_argument("--timeout", type=float, default=10.0, help="seconds (10)")
    customer.set_defaults(func=cmd_customer)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``relscore`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"relscore: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
