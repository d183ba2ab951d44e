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
