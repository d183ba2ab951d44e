"""Running one scoring worker: topic checks first, then the Faust worker loop."""

from __future__ import annotations

import logging
import os

import faust

from scorers.config import ScoringConfig
from streams.kafka_clients import KafkaSetupError
from streams.runtime.app import create_app
from streams.runtime.garbage_collection import tune_for_long_lived_states
from streams.runtime.metrics import BUILD, scorers_build
from streams.runtime.topic_layout import ensure_topics
from streams.settings import Settings, retired_variables

log = logging.getLogger(__name__)


def run_worker(settings: Settings, cfg: ScoringConfig) -> int:
    """Check the topic layout, then run the worker until SIGTERM/SIGINT; returns the exit code."""
    try:
        counts = ensure_topics(settings)
    except KafkaSetupError as exc:
        log.error("%s", exc)
        return 2
    for warning in retired_variables(os.environ):
        log.warning("%s", warning)
    build = scorers_build()
    BUILD.info({"scorer_version": cfg.scorer_version, "scorers": build})
    log.info(
        "topics ready (%d partitions each); scorer version %s (%s scorers); web on %s:%d",
        counts[settings.topics.purchases], cfg.scorer_version, build, settings.web.host,
        settings.web.port,
    )
    app = create_app(settings, cfg)
    tune_for_long_lived_states()
    # Faust installs its own log handler; the CLI's would print every line twice.
    logging.getLogger().handlers.clear()
    worker = faust.Worker(app, loglevel=settings.worker.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
