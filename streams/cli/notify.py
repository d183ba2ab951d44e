"""``relscore notify``: deliver alerts to the destinations the routes name."""

from __future__ import annotations

import argparse
import os

from streams.cli.context import EXIT_UNAVAILABLE, CliError, load_settings


def cmd_notify(args: argparse.Namespace) -> int:
    import asyncio

    from aiokafka.errors import KafkaError

    from streams.kafka_clients import KafkaSetupError
    from streams.notify.routes import RoutesError
    from streams.notify.service import configured_routing, run_notify
    from streams.runtime.topic_layout import (
        TopicLayoutError,
        create_missing_topics,
        required_topics,
    )
    from streams.settings import SettingsError

    settings = load_settings()
    try:
        routing = configured_routing(settings, os.environ)
    except (RoutesError, SettingsError) as exc:
        raise CliError(f"routes refused: {exc}") from exc
    if args.check:
        for destination in routing.destinations.values():
            print(f"destination {destination.name}: {destination.kind}")
        print(f"{len(routing.routes)} routes; fallback: {', '.join(routing.fallback) or 'none'}")
        return 0
    # The topics notify reads and writes, so that it may start before any worker has run.
    names = {settings.topics.alerts, settings.topics.owners, settings.topics.alert_actions,
             settings.topics.notify_dlq}
    try:
        create_missing_topics(settings, [spec for spec in required_topics(settings)
                                         if spec.name in names])
    except (TopicLayoutError, KafkaSetupError) as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    try:
        asyncio.run(run_notify(settings, routing))
    except OSError as exc:
        raise CliError(f"cannot serve on {settings.web.host}:{settings.notify.port} ({exc}); "
                       "choose another port with RELSCORE_NOTIFY_PORT") from exc
    except KafkaError as exc:
        raise CliError(
            f"cannot read {settings.topics.alerts} from Kafka at {settings.kafka.bootstrap} "
            f"({exc.__class__.__name__}); check that the broker runs and "
            "RELSCORE_KAFKA_BOOTSTRAP (and the RELSCORE_KAFKA_SASL_* / SSL settings) reach it",
            EXIT_UNAVAILABLE,
        ) from exc
    except LookupError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    notify = sub.add_parser(
        "notify", help="deliver alerts to webhooks, Slack and email (its own consumer group)",
        description="Consume the alerts topic and deliver each alert, once, to the "
        "destinations its routes name (RELSCORE_NOTIFY_ROUTES, or RELSCORE_NOTIFY_WEBHOOK_URL "
        "alone). Serves /healthz and /metrics on RELSCORE_NOTIFY_PORT.",
    )
    notify.add_argument("--check", action="store_true",
                        help="check the routes and list the destinations, then exit")
    notify.set_defaults(func=cmd_notify)
