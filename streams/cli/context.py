"""What every ``relscore`` command starts from: its settings, the scoring config, and the
one error type a command raises to end with a message and an exit code."""

from __future__ import annotations

from scorers.config import ConfigError, ScoringConfig, load_config
from streams.laptop.stack_settings import StackSettings
from streams.settings import Settings, SettingsError

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


class CliError(Exception):
    """A user-facing failure: printed as ``relscore: <message>`` with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code



def load_settings() -> Settings:
    """The ``RELSCORE_*`` settings, or a :class:`CliError` naming the bad variable."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc



def load_scoring_config(settings: Settings) -> ScoringConfig:
    """The scoring model's config (``RELSCORE_CONFIG_PATH``), or a :class:`CliError`."""
    try:
        return load_config(settings.worker.config_path)
    except ConfigError as exc:
        raise CliError(f"scoring config refused: {exc}") from exc


def load_stack_settings() -> StackSettings:
    """Where the local stack runs (``RELSCORE_RUN_DIR`` and its ports), or a :class:`CliError`."""
    try:
        return StackSettings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc


def event_time(text: str, flag: str) -> int:
    """An event time given on the command line: RFC 3339, or a date (00:00 UTC).

    >>> event_time("1998-01-01", "--cut")
    883612800000
    >>> try:
    ...     event_time("yesterday", "--as-of")
    ... except CliError as exc:
    ...     print(str(exc)[:46])
    --as-of 'yesterday': not an RFC 3339 timestamp
    """
    from scorers.timefmt import parse_rfc3339_ms

    try:
        return parse_rfc3339_ms(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError as exc:
        raise CliError(f"{flag} {text!r}: {exc} (give a date like 2026-06-01 or a time like "
                       "2026-06-01T12:00:00Z)") from exc
