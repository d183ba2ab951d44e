"""``relscore worker`` and ``relscore project``: the long-running services."""

from __future__ import annotations

import argparse
import logging

from streams.cli.context import (
    EXIT_UNAVAILABLE,
    CliError,
    load_scoring_config,
    load_settings,
)


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.runtime.worker import run_worker

    settings = load_settings()
    return run_worker(settings, load_scoring_config(settings))


def cmd_project(args: argparse.Namespace) -> int:
    import asyncio

    from aiokafka.errors import KafkaError
    from prometheus_client import start_http_server

    from streams.runtime import metrics
    from streams.runtime.projector import run_projector

    settings = load_settings()
    cfg = load_scoring_config(settings)
    port = settings.web.port + 1 if args.metrics_port is None else args.metrics_port
    try:
        start_http_server(port, addr=settings.web.host, registry=metrics.REGISTRY)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on {settings.web.host}:{port} ({exc}); "
                       "choose another with --metrics-port") from exc
    logging.getLogger(__name__).info("projector metrics on http://%s:%d/metrics",
                                     settings.web.host, port)
    try:
        asyncio.run(run_projector(settings, cfg.alerts.threshold))
    except KafkaError as exc:
        raise CliError(
            f"cannot read {settings.topics.scores} from Kafka at {settings.kafka.bootstrap} "
            f"({exc.__class__.__name__}: {exc}); check that the broker runs and "
            "RELSCORE_KAFKA_BOOTSTRAP (and the RELSCORE_KAFKA_SASL_* / SSL settings) reach it",
            EXIT_UNAVAILABLE,
        ) from exc
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
