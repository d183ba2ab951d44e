"""The ``relscore`` command line: worker, stack, score, produce, tail, demo."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scorers.config import ConfigError, ScoringConfig, load_config
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


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    settings = _settings()
    return run_demo(settings, _config(settings), keep_stack=args.keep_stack)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relscore",
        description="Real-time customer relationship-health scoring on Kafka. "
        "Settings come from RELSCORE_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    worker = sub.add_parser("worker", help="run one scoring worker (joins the consumer group)")
    worker.set_defaults(func=cmd_worker)

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

    demo = sub.add_parser("demo", help="stack up, worker, scripted customers, readable summary")
    demo.add_argument("--keep-stack", action="store_true", help="leave Kafka and Redis running")
    demo.set_defaults(func=cmd_demo)
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
