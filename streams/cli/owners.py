"""``relscore owners load``: customer owners from a CRM export into Kafka."""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.cli.context import EXIT_UNAVAILABLE, CliError, load_settings

EXIT_ROWS_REJECTED = 1
SHOWN_REJECTS = 20


def cmd_owners_load(args: argparse.Namespace) -> int:
    from streams.kafka_clients import KafkaSetupError
    from streams.notify.owners import OwnerFileError, read_owner_file
    from streams.tools.owner_loader import load_owners

    settings = load_settings()
    path = Path(args.file)
    try:
        result = read_owner_file(path)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except OwnerFileError as exc:
        raise CliError(str(exc)) from exc
    for row in result.rejected[:SHOWN_REJECTS]:
        print(f"  line {row.line}: {row.reason}")
    if len(result.rejected) > SHOWN_REJECTS:
        print(f"  ... and {len(result.rejected) - SHOWN_REJECTS} more rejected rows")
    if not result.owners:
        raise CliError(f"{path} has no valid owner row ({len(result.rejected)} rejected); "
                       "nothing was loaded")
    if args.dry_run:
        sent = len(result.owners)
        verb = "would load"
    else:
        try:
            sent = load_owners(settings, result.owners.values())
        except KafkaSetupError as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
        verb = "loaded"
    repeated = (f"; {result.superseded} rows were superseded by a later row of the same "
                "customer" if result.superseded else "")
    print(f"{verb} {sent} owners from {path} into {settings.topics.owners}; "
          f"{len(result.rejected)} rows rejected{repeated}")
    return EXIT_ROWS_REJECTED if result.rejected else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    owners = sub.add_parser("owners", help="who owns which customer (for alert routing)")
    actions = owners.add_subparsers(dest="action", required=True)
    load = actions.add_parser(
        "load", help="load a CRM export of owners (CSV or JSONL) into the owners topic",
        description="Read FILE (.csv with a header row, or .jsonl), one customer a row with "
        "customer_id, owner and optionally email and slack, and write each owner to the "
        "compacted owners topic (RELSCORE_TOPIC_OWNERS), keyed by customer id. Bad rows are "
        "listed with their line numbers and the rest load; the exit code is then 1.",
    )
    load.add_argument("file", help="the export: .csv or .jsonl (.ndjson)")
    load.add_argument("--dry-run", action="store_true",
                      help="check the file and say what would load, without writing")
    load.set_defaults(func=cmd_owners_load)
