"""The ``relscore`` command line: one parser, one module per command group.

- :mod:`streams.cli.services`: ``worker``, ``project``
- :mod:`streams.cli.stack`: ``stack``
- :mod:`streams.cli.tools`: ``score``, ``produce``, ``tail``, ``customer``
- :mod:`streams.cli.laptop`: ``demo``, ``simulate``
- :mod:`streams.cli.owners`: ``owners load``
- :mod:`streams.cli.notify`: ``notify``
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from streams.cli import laptop, notify, owners, services, stack, tools
from streams.cli.context import CliError


def build_parser() -> argparse.ArgumentParser:
    """The ``relscore`` argument parser, every command registered in its help order."""
    parser = argparse.ArgumentParser(
        prog="relscore",
        description="Real-time customer relationship-health scoring on Kafka. "
        "Settings come from RELSCORE_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    services.register(sub)
    stack.register(sub)
    tools.register(sub)
    laptop.register(sub)
    owners.register(sub)
    notify.register(sub)
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

