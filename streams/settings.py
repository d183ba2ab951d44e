"""Runtime settings, read from ``RELSCORE_*`` environment variables.

Every setting has a documented default that works with ``relscore stack up``. Secrets
(SASL password, Redis URL credentials) are kept out of ``repr`` so they never reach a log.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

ENV_PREFIX = "RELSCORE_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def _redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the userinfo or a ``password=``
    query parameter). Works on the raw text, so unencoded reserved characters in a password,
    a bad port or an IPv6 host neither leak nor raise."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url else url
    userinfo, at, hostpart = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.partition(':')[0]}:***@{hostpart}"
    else:
        hostpart = rest
    head, question, query = rest.partition("?")
    if question:
        query, hash_sign, fragment = query.partition("#")
        try:
            pairs = parse_qsl(query, keep_blank_values=True)
        except ValueError:
            return f"{scheme}://***"
        if any(name.lower() == "password" for name, _ in pairs):
            query = urlencode(
                [(name, "***" if name.lower() == "password" else value) for name, value in pairs]
            )
        rest = f"{head}?{query}{hash_sign}{fragment}"
    return f"{scheme}://{rest}"


@dataclass(frozen=True)
class Settings:
    """All runtime settings of a relscore process (see README "Settings")."""

    kafka_bootstrap: str = "localhost:19092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: str | None = None
    redis_url: str = field(default="redis://localhost:16379/0", repr=False)
    # CA certificate (PEM) that signed the Redis server's certificate, for rediss:// URLs whose
    # server is not signed by a CA in the system store.
    redis_ca_file: str | None = None
    redis_prefix: str = "relscore:"
    app_id: str = "relscore"
    topic_purchases: str = "purchases"
    topic_tickets: str = "support-tickets"
    topic_interactions: str = "interactions"
    topic_scores: str = "relationship-scores"
    topic_alerts: str = "relationship-alerts"
    topic_dlq: str = "relationship-dlq"
    topic_rekey: str = "relscore-rekey"
    partitions: int = 4
    replication_factor: int = 1
    web_host: str = "0.0.0.0"
    web_port: int = 6066
    # Host name other workers use to reach this one (request routing); default: hostname.
    web_advertised_host: str = ""
    table_store: str = "memory://"
    data_dir: str = ".run/worker"
    config_path: str | None = None
    max_payload_bytes: int = 65536
    max_future_skew_ms: int = 5 * 60 * 1000
    # Event-time clock per partition = highest event time seen - allowed lateness. Customers
    # whose score would cross a level by then are re-scored with reason "decay".
    allowed_lateness_ms: int = 60_000
    # "event": only event time moves the clocks (replays give identical output).
    # "wall": also tick idle partitions with the wall clock every tick_interval_s (live use);
    # the ticks are records on the re-key topic, so a replay of the log repeats them.
    clock: str = "event"
    tick_interval_s: float = 5.0
    log_level: str = "INFO"
    # The scoring agent takes up to batch_size records or what arrives within batch_within_s.
    batch_size: int = 500
    batch_within_s: float = 0.05
    # Seconds between offset commits (Faust's broker_commit_interval).
    commit_interval_s: float = 1.0
    # Seconds the producer waits to fill a request (Faust's producer_linger); the agent waits
    # for each batch's acks anyway, so a few ms cost little latency and save requests.
    producer_linger_s: float = 0.005
    # Where the Redis read model is kept: "worker" (a task in each worker) or "off" (run
    # `relscore project` as its own process, which frees the scoring worker's CPU).
    projector: str = "worker"
    # Consumer group session timeout: a worker silent this long loses its partitions.
    session_timeout_s: float = 30.0
    # Exit with code 3 when no Kafka bootstrap server answers for this long.
    broker_timeout_s: float = 120.0
    run_dir: str = ".run"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    redis_port: int = 16379

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr
        )
        return f"Settings({shown}, redis_url={_redact_url(self.redis_url)!r})"

    def namespaced(self, tag: str, **overrides: Any) -> Settings:
        """These settings with an app id (consumer group) and topics of their own, named
        after ``tag``: for tests, demos and replays that must not see each other's records."""
        values: dict[str, Any] = {
            "app_id": f"relscore-{tag}",
            "topic_purchases": f"{tag}.purchases",
            "topic_tickets": f"{tag}.support-tickets",
            "topic_interactions": f"{tag}.interactions",
            "topic_scores": f"{tag}.relationship-scores",
            "topic_alerts": f"{tag}.relationship-alerts",
            "topic_dlq": f"{tag}.relationship-dlq",
            "topic_rekey": f"{tag}.rekey",
        }
        return dataclasses.replace(self, **{**values, **overrides})

    @property
    def input_topics(self) -> tuple[str, str, str]:
        return (self.topic_purchases, self.topic_tickets, self.topic_interactions)

    @property
    def run_path(self) -> Path:
        return Path(self.run_dir).resolve()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``RELSCORE_<FIELD>`` variables (upper-case field names)."""
        source = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            raw = source.get(name)
            if raw is None or raw == "":
                continue
            if f.type == "float":
                try:
                    values[f.name] = float(raw)
                except ValueError:
                    raise SettingsError(f"{name}={raw!r} is not a number") from None
            elif f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise SettingsError(
                        f"{name}={raw!r} is not an integer; set it to a whole number "
                        f"or unset it to use the default ({getattr(cls, f.name)!r})"
                    ) from None
            else:
                values[f.name] = raw
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings that cannot work, naming the variable and what to do."""
        if self.partitions < 1:
            raise SettingsError("RELSCORE_PARTITIONS must be >= 1")
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"RELSCORE_WEB_PORT={self.web_port} is not a TCP port (1-65535)")
        if self.max_payload_bytes < 256:
            raise SettingsError("RELSCORE_MAX_PAYLOAD_BYTES must be at least 256")
        if self.clock not in ("event", "wall"):
            raise SettingsError(f"RELSCORE_CLOCK={self.clock!r}: use 'event' or 'wall'")
        if self.allowed_lateness_ms < 0:
            raise SettingsError("RELSCORE_ALLOWED_LATENESS_MS must be >= 0")
        if self.batch_size < 1 or self.batch_within_s <= 0:
            raise SettingsError("RELSCORE_BATCH_SIZE must be >= 1, RELSCORE_BATCH_WITHIN_S > 0")
        if self.session_timeout_s < 6:
            raise SettingsError("RELSCORE_SESSION_TIMEOUT_S must be at least 6 (seconds)")
        if self.broker_timeout_s <= 0:
            raise SettingsError("RELSCORE_BROKER_TIMEOUT_S must be > 0 (seconds)")
        if self.projector not in ("worker", "off"):
            raise SettingsError(
                f"RELSCORE_PROJECTOR={self.projector!r}: use 'worker' (the worker keeps Redis "
                "up to date) or 'off' (run `relscore project` as a process of its own)"
            )
        if not 0 <= self.producer_linger_s <= 1:
            raise SettingsError("RELSCORE_PRODUCER_LINGER_S must be between 0 and 1 (seconds)")
        if self.tick_interval_s <= 0:
            raise SettingsError("RELSCORE_TICK_INTERVAL_S must be > 0")
        if self.kafka_security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise SettingsError(
                f"RELSCORE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol!r}: use one of "
                "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            )
        for name, path in (("RELSCORE_KAFKA_SSL_CAFILE", self.kafka_ssl_cafile),
                           ("RELSCORE_REDIS_CA_FILE", self.redis_ca_file)):
            if path and not Path(path).is_file():
                raise SettingsError(f"{name}={path!r}: no such file (a PEM CA certificate)")
        if self.redis_ca_file and urlsplit(self.redis_url).scheme != "rediss":
            raise SettingsError(
                "RELSCORE_REDIS_CA_FILE is set but RELSCORE_REDIS_URL is not a rediss:// (TLS) URL"
            )
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password and self.kafka_sasl_mechanism
        ):
            raise SettingsError(
                "SASL needs RELSCORE_KAFKA_SASL_MECHANISM, RELSCORE_KAFKA_SASL_USERNAME and "
                "RELSCORE_KAFKA_SASL_PASSWORD"
            )
