"""Where the local stack (``relscore stack``) runs: its run directory and ports.

These ``RELSCORE_*`` variables belong to the laptop kit alone; the runtime reaches Kafka and
Redis through :class:`streams.settings.KafkaConnection` and
:class:`streams.settings.RedisConnection`, whose defaults point at this stack's default ports.

>>> StackSettings.from_env({"RELSCORE_KAFKA_PORT": "29092"}).kafka_port
29092
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streams.settings import env_field, env_pairs, env_values


@dataclass(frozen=True)
class StackSettings:
    """The local stack's run directory and the ports its Kafka and Redis listen on."""

    run_dir: str = env_field("RUN_DIR", ".run")
    kafka_port: int = env_field("KAFKA_PORT", 19092)
    kafka_controller_port: int = env_field("KAFKA_CONTROLLER_PORT", 19093)
    redis_port: int = env_field("REDIS_PORT", 16379)

    @property
    def run_path(self) -> Path:
        """The run directory, absolute."""
        return Path(self.run_dir).resolve()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackSettings:
        """Read ``RELSCORE_RUN_DIR`` and the port variables (default: the process env)."""
        return cls(**env_values(cls, os.environ if env is None else env))

    def to_env(self) -> dict[str, str]:
        """``RELSCORE_*`` variables that reproduce these settings in a child process."""
        return dict(env_pairs(self))
