"""Topic set-up and the start-up co-partitioning check.

The state table is updated by the events of one customer, so every topic the scoring agent
reads (the three inputs and the re-key topic) and the table's changelog must have the same
partition count. Missing topics are created with ``RELSCORE_PARTITIONS``; existing ones that
disagree stop the worker with a message that says which and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.runtime.broker_watchdog import bootstrap_addresses
from streams.settings import Settings

log = logging.getLogger(__name__)


class TopicLayoutError(RuntimeError):
    """The topics cannot be co-partitioned as they are; the message says how to fix it."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str]


def changelog_topic(settings: Settings) -> str:
    return f"{settings.app_id}-customer-state-changelog"


def required_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic relscore reads or writes, with its partitions and config."""
    n = settings.partitions
    plain: dict[str, str] = {}
    compacted = {"cleanup.policy": "compact"}
    return [
        *(TopicSpec(name, n, plain) for name in settings.input_topics),
        TopicSpec(settings.topic_rekey, n, plain),
        TopicSpec(changelog_topic(settings), n, compacted),
        TopicSpec(settings.topic_scores, n, compacted),
        TopicSpec(settings.topic_alerts, n, plain),
        TopicSpec(settings.topic_dlq, n, plain),
    ]


def kafka_client_config(settings: Settings) -> dict[str, Any]:
    """kafka-python connection settings (bootstrap and security) from ``settings``."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = settings.kafka_sasl_password
    if settings.kafka_ssl_cafile:
        config["ssl_cafile"] = settings.kafka_ssl_cafile
    return config


def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create missing topics and check partition counts; returns name -> partitions."""
    check_kafka_login(settings)
    try:
        admin = KafkaAdminClient(
            client_id=f"{settings.app_id}-setup", request_timeout_ms=30000,
            **kafka_client_config(settings),
        )
    except KafkaError as exc:
        raise TopicLayoutError(
            f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc.__class__.__name__}); "
            "start it with `relscore stack up` or set RELSCORE_KAFKA_BOOTSTRAP"
        ) from exc
    try:
        specs = required_topics(settings)
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            # Another worker may create them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=settings.replication_factor,
                            topic_configs=dict(spec.config),
                        )
                        for spec in missing
                    ]
                )
            log.info("created topics %s", ", ".join(spec.name for spec in missing))
        counts = _partition_counts(admin, [spec.name for spec in specs])
    finally:
        admin.close()
    check_copartitioning(settings, counts)
    return counts


class KafkaLoginError(TopicLayoutError):
    """Kafka answers but refuses the TLS handshake or the SASL login of these settings."""


def check_kafka_login(settings: Settings, timeout_s: float = 15.0) -> None:
    """Fail fast, with a message naming the problem, when Kafka refuses our TLS or SASL login.

    kafka-python's admin client retries a failed SASL login until its bootstrap timeout and
    then reports only a timeout ("cannot reach Kafka"), so a wrong password looked like a
    broker outage. One connection with aiokafka (the client Faust uses) gets the broker's own
    answer. Does nothing for PLAINTEXT; an unreachable broker is left to the caller's client.
    The message names the user and the variables to check, never the password.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_login_once(settings, timeout_s))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome.append(exc)

    # A thread of its own, so this works whether or not the caller runs an event loop.
    thread = threading.Thread(target=run, name="relscore-kafka-login-check", daemon=True)
    thread.start()
    thread.join(timeout_s * 3)
    if outcome:
        raise outcome[0]


async def _login_once(settings: Settings, timeout_s: float) -> None:
    import ssl

    from aiokafka import errors as aerrors
    from aiokafka.conn import create_conn

    config = aiokafka_client_config(settings)
    del config["bootstrap_servers"]
    protocol = settings.kafka_security_protocol
    for host, port in bootstrap_addresses(settings.kafka_bootstrap):
        where = f"Kafka at {host}:{port}"
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, client_id=f"{settings.app_id}-login-check",
                            request_timeout_ms=int(timeout_s * 1000), **config),
                timeout_s,
            )
        except ssl.SSLCertVerificationError as exc:
            raise KafkaLoginError(
                f"TLS handshake with {where} failed: the broker's certificate is not trusted "
                f"({exc.verify_message}); set RELSCORE_KAFKA_SSL_CAFILE to the CA that signed "
                "it and check that the certificate names the host in RELSCORE_KAFKA_BOOTSTRAP"
            ) from None
        except ssl.SSLError as exc:
            raise KafkaLoginError(
                f"TLS handshake with {where} failed ({exc.reason or exc.__class__.__name__}); "
                f"is that listener {protocol}? Check RELSCORE_KAFKA_SECURITY_PROTOCOL"
            ) from None
        except (aerrors.SaslAuthenticationFailed, aerrors.AuthenticationFailedError,
                aerrors.IllegalSaslStateError) as exc:
            detail = str(exc) or exc.__class__.__name__
            raise KafkaLoginError(
                f"authentication failed: {where} refused the SASL "
                f"{settings.kafka_sasl_mechanism} login of user "
                f"{settings.kafka_sasl_username!r} ({detail}); check "
                "RELSCORE_KAFKA_SASL_USERNAME and RELSCORE_KAFKA_SASL_PASSWORD"
            ) from None
        except aerrors.UnsupportedSaslMechanismError as exc:
            raise KafkaLoginError(
                f"{where} does not accept RELSCORE_KAFKA_SASL_MECHANISM="
                f"{settings.kafka_sasl_mechanism} ({exc})"
            ) from None
        except (OSError, TimeoutError, aerrors.KafkaError):
            continue  # not reachable (or not answering): try the next bootstrap address
        conn.close()
        return


def _partition_counts(admin: KafkaAdminClient, names: list[str],
                      timeout_s: float = 30.0) -> dict[str, int]:
    """Partition counts of ``names``, waiting for topics just created to show in metadata."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts: dict[str, int] = {}
        for topic in admin.describe_topics(names):
            if topic.get("error_code", 0) == 0 and topic["partitions"]:
                counts[topic.get("name") or topic["topic"]] = len(topic["partitions"])
        missing = [name for name in names if name not in counts]
        if not missing or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def check_copartitioning(settings: Settings, counts: Mapping[str, int]) -> None:
    """Refuse to start when the scoring agent's topics cannot share one partitioning."""
    scored = [*settings.input_topics, settings.topic_rekey, changelog_topic(settings)]
    found = {name: counts.get(name, 0) for name in scored}
    if len(set(found.values())) == 1 and settings.partitions in found.values():
        return
    listing = ", ".join(f"{name}={count}" for name, count in found.items())
    unseen = [name for name, count in found.items() if count == 0]
    if unseen:
        raise TopicLayoutError(
            f"topics {', '.join(unseen)} do not show in the broker's metadata after 30 s; "
            "check that the broker is healthy and that this user may describe them"
        )
    agreed = {found[name] for name in settings.input_topics}
    if len(agreed) == 1 and next(iter(agreed)) != settings.partitions:
        hint = (
            f"the input topics agree on {next(iter(agreed))} partitions: set "
            f"RELSCORE_PARTITIONS={next(iter(agreed))} (and recreate {settings.topic_rekey} and "
            f"{changelog_topic(settings)} if they exist with another count)"
        )
    else:
        hint = (
            "every input topic must have the same partition count, keyed by customer_id, so "
            "that one customer's events meet one table partition; recreate the odd topics with "
            f"RELSCORE_PARTITIONS={settings.partitions} partitions, or mirror them into such topics"
        )
    raise TopicLayoutError(f"partition counts do not match ({listing}): {hint}")


def aiokafka_client_config(settings: Settings) -> dict[str, Any]:
    """aiokafka connection settings (bootstrap and security) from ``settings``."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = settings.kafka_sasl_password
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        import ssl

        config["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    return config
