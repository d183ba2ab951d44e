"""The ``relscore`` command (entry point :func:`streams.cli.main.main`)."""

from __future__ import annotations

from streams.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
