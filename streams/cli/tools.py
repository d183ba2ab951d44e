"""The operator tools: ``relscore score``, ``backtest``, ``produce``, ``tail``, ``customer``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scorers.model import BAND_NAMES
from scorers.timefmt import format_ms
from streams.cli.context import (
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
    event_time,
    load_scoring_config,
    load_settings,
)
from streams.tools.customer_lookup import customer_lines, service_url


def cmd_score(args: argparse.Namespace) -> int:
    from scorers.events import Limits
    from streams.runtime.garbage_collection import tune_for_long_lived_states
    from streams.tools.offline_scoring import read_lines, score_lines, write_outputs

    settings = load_settings()
    cfg = load_scoring_config(settings)
    path = Path(args.file)
    as_of_ms = None if args.as_of is None else event_time(args.as_of, "--as-of")
    now_ms = time.time_ns() // 1_000_000
    tune_for_long_lived_states()
    started = time.perf_counter()
    try:
        result = score_lines(
            read_lines(path), cfg, reference_ms=now_ms,
            limits=Limits(settings.worker.max_payload_bytes, settings.worker.max_future_skew_ms),
            partitions=settings.topics.partitions,
            allowed_lateness_ms=settings.worker.allowed_lateness_ms,
            as_of_ms=as_of_ms,
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
        f"{band} {bands.get(band, 0)}" for band in BAND_NAMES))
    if as_of_ms is not None:
        print(f"every customer valued at {format_ms(as_of_ms)} (--as-of); events after it are "
              "in dlq.jsonl with reason after_as_of")
    print(f"alerts: {len(result.alerts)}; outputs in {out}/scores.jsonl, alerts.jsonl, dlq.jsonl")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    import orjson

    from scorers.config import ConfigError, load_config
    from scorers.events import Limits
    from streams.tools.backtest import read_outcomes, report_lines, run_backtest
    from streams.tools.offline_scoring import read_lines

    settings = load_settings()
    cut_ms = event_time(args.cut, "--cut")
    if args.horizon_days <= 0:
        raise CliError("--horizon-days must be > 0")
    configs = []
    for path in args.config or []:
        try:
            configs.append((Path(path).stem, load_config(path)))
        except ConfigError as exc:
            raise CliError(f"scoring config refused: {exc}") from exc
    if not configs:
        configs = [("default" if settings.worker.config_path is None
                    else Path(settings.worker.config_path).stem, load_scoring_config(settings))]
    outcomes = None
    if args.outcomes:
        try:
            read = read_outcomes(read_lines(Path(args.outcomes)))
        except OSError as exc:
            raise CliError(f"cannot read {args.outcomes}: {exc.strerror or exc}") from exc
        for number, error in read.errors[:20]:
            print(f"{args.outcomes}:{number}: {error}; line skipped")
        if read.errors:
            print(f"{len(read.errors)} outcome lines skipped, {len(read.by_customer)} read")
        outcomes = read.by_customer
    try:
        reports, split = run_backtest(
            read_lines(Path(args.file)), cut_ms=cut_ms, horizon_days=args.horizon_days,
            configs=configs, outcomes=outcomes, partitions=settings.topics.partitions,
            allowed_lateness_ms=settings.worker.allowed_lateness_ms,
            limits=Limits(settings.worker.max_payload_bytes, settings.worker.max_future_skew_ms),
        )
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if split.invalid:
        print(f"{split.invalid} invalid event lines ignored (relscore score lists why)")
    if split.churned_before_cut:
        print(f"{split.churned_before_cut} customers had churned before the cut: left out")
    for line in report_lines(reports, cut_ms, args.horizon_days):
        print(line)
    if args.json:
        body = {"cut": format_ms(cut_ms), "horizon_days": args.horizon_days,
                "outcomes": "file" if outcomes is not None else "derived from the events",
                "reports": [report.as_dict() for report in reports]}
        try:
            Path(args.json).write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            raise CliError(f"cannot write {args.json}: {exc.strerror or exc}") from exc
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from streams.tools.event_file_sender import produce_file

    settings = load_settings()
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
    from streams.tools.tail import tail

    settings = load_settings()
    tail(settings, args.what, customer=args.customer, follow=not args.no_follow,
         from_beginning=args.from_beginning, limit=args.max)
    return 0

def cmd_customer(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    settings = load_settings()
    base = service_url(settings)
    url = f"{base}/customers/{urllib.parse.quote(args.customer_id, safe='')}"
    try:
        request = urllib.request.Request(url, headers=settings.web.client_headers())
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", "")
        except ValueError:
            detail = ""
        if exc.code == 404:
            raise CliError(f"customer {args.customer_id!r} is unknown to the service at {base}"
                           f" ({detail or 'no events seen'})", 1) from exc
        if exc.code == 401:
            detail = (f"{detail} (set RELSCORE_API_TOKENS=read:TOKEN to a token the service "
                      "takes)")
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    score = sub.add_parser("score", help="score a JSONL event file offline with the same model")
    score.add_argument("file", help="events, one JSON object a line, each with a 'topic' field")
    score.add_argument("--out", required=True, help="directory for scores/alerts/dlq .jsonl")
    score.add_argument("--as-of", metavar="T",
                       help="value every customer at event time T (RFC 3339 or a date), firing "
                       "the re-scores and alerts due by then; later events go to dlq.jsonl")
    score.set_defaults(func=cmd_score)

    backtest = sub.add_parser(
        "backtest", help="check that low scores mean customers at risk (scores at a cut vs "
        "what customers did after it)",
        description="Score every customer at --cut from the events before it, then compare "
        "with what each did within --horizon-days after it (from --outcomes, or else churned = "
        "no purchase and no interaction in the horizon). Reports the AUC of the score and of "
        "recency and frequency alone, the threshold alert's precision, recall and lift, the "
        "churn rate per band, the alerts' lead time and their noise.",
    )
    backtest.add_argument("file", help="events, one JSON object a line, each with a 'topic'")
    backtest.add_argument("--cut", required=True, metavar="T",
                          help="when to score (RFC 3339 or a date)")
    backtest.add_argument("--horizon-days", type=float, required=True, metavar="N",
                          help="how long after the cut to look for the outcome")
    backtest.add_argument("--outcomes", metavar="FILE",
                          help='JSONL {"customer_id": ..., "churned": true|false, "at": ...}')
    backtest.add_argument("--config", action="append", metavar="A.toml",
                          help="a scoring config to compare (repeat for side by side)")
    backtest.add_argument("--json", metavar="REPORT", help="also write the figures as JSON")
    backtest.set_defaults(func=cmd_backtest)

    produce = sub.add_parser("produce", help="send a JSONL event file to the input topics")
    produce.add_argument("file")
    produce.add_argument("--topic", help="send every line to this topic (else each line's 'topic')")
    produce.add_argument("--no-validate", action="store_true",
                         help="send lines as they are (to exercise the dead-letter topic)")
    produce.set_defaults(func=cmd_produce)

    tail_cmd = sub.add_parser("tail", help="print score or alert messages as they arrive")
    tail_cmd.add_argument("what", choices=("scores", "alerts", "dlq", "notify-dlq"))
    tail_cmd.add_argument("--customer", help="only this customer id")
    tail_cmd.add_argument("--from-beginning", action="store_true")
    tail_cmd.add_argument("--no-follow", action="store_true", help="stop at the end of the topic")
    tail_cmd.add_argument("--max", type=int, default=None, help="stop after N messages")
    tail_cmd.set_defaults(func=cmd_tail)

    customer = sub.add_parser(
        "customer", help="ask the running service for one customer's score and why",
        description="GET /customers/{id} from the worker at RELSCORE_WEB_HOST (127.0.0.1 when "
        "unset or 0.0.0.0) and RELSCORE_WEB_PORT.",
    )
    customer.add_argument("customer_id")
    customer.add_argument("--json", action="store_true", help="print the raw JSON answer")
    customer.add_argument("--timeout", type=float, default=10.0, help="seconds (10)")
    customer.set_defaults(func=cmd_customer)
