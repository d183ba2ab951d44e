"""Settings of a relscore process, read from ``RELSCORE_*`` environment variables.

They are grouped by concern: how to reach Kafka (:class:`KafkaConnection`) and Redis
(:class:`RedisConnection`), the topic names (:class:`Topics`), how the worker runs
(:class:`WorkerSettings`) and where it serves HTTP (:class:`WebSettings`). The local stack's
ports are not here: they belong to the laptop kit (:mod:`streams.laptop.stack_settings`).

Every field is one variable, named in its metadata; its default works with
``relscore stack up``. Secrets (the SASL password, credentials in the Redis URL) are kept out of
``repr`` so they never reach a log.

>>> settings = Settings.from_env({"RELSCORE_WEB_PORT": "7000", "RELSCORE_TOPIC_SCORES": "s"})
>>> settings.web.port, settings.topics.scores, settings.kafka.bootstrap
(7000, 's', 'localhost:19092')
>>> settings.override(partitions=8).topics.partitions
8
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

ENV_PREFIX = "RELSCORE_"


# Variables that earlier versions read, and what to do instead.
RETIRED = {
    "RELSCORE_BATCH_WITHIN_S": "the scoring agent takes whole fetches and waits for no timer; "
                               "unset it (RELSCORE_BATCH_SIZE still bounds a fetch)",
}


def retired_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each retired variable that ``env`` still sets.

    >>> retired_variables({"RELSCORE_BATCH_WITHIN_S": "0.05", "RELSCORE_BATCH_SIZE": "9"})
    ['RELSCORE_BATCH_WITHIN_S is no longer read: the scoring agent takes whole fetches \
and waits for no timer; unset it (RELSCORE_BATCH_SIZE still bounds a fetch)']
    """
    return [f"{name} is no longer read: {advice}" for name, advice in RETIRED.items()
            if env.get(name)]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


# The smallest RELSCORE_ROCKSDB_MEMORY_MIB: a write buffer of at least 2 MiB.
MIN_ROCKSDB_MEMORY_MIB = 8


def env_field(variable: str, default: Any, *, secret: bool = False) -> Any:
    """A settings field read from ``RELSCORE_<variable>``; a secret stays out of ``repr``."""
    return field(default=default, repr=not secret, metadata={"env": ENV_PREFIX + variable})


def env_values(group: type[Any], source: Mapping[str, str]) -> dict[str, Any]:
    """The fields of the dataclass ``group`` that ``source`` sets, converted to their types.

    >>> env_values(WebSettings, {"RELSCORE_WEB_PORT": "8080", "RELSCORE_WEB_HOST": ""})
    {'port': 8080}
    """
    values: dict[str, Any] = {}
    for f in fields(group):
        name = f.metadata["env"]
        raw = source.get(name)
        if raw is None or raw == "":
            continue
        if f.type == "bool":
            values[f.name] = parse_bool(name, raw)
        elif f.type == "float":
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
                    f"or unset it to use the default ({f.default!r})"
                ) from None
        else:
            values[f.name] = raw
    return values


def parse_bool(name: str, raw: str) -> bool:
    """A yes/no variable: ``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``).

    >>> parse_bool("RELSCORE_API_OPEN_HEALTH", "False")
    False
    >>> parse_bool("RELSCORE_API_OPEN_HEALTH", "maybe")
    Traceback (most recent call last):
    ...
    streams.settings.SettingsError: RELSCORE_API_OPEN_HEALTH='maybe': use true or false
    """
    text = raw.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: use true or false")


def env_pairs(group: object) -> Iterator[tuple[str, str]]:
    """``(RELSCORE_* name, value)`` of every field of ``group`` that is set."""
    for f in fields(group):  # type: ignore[arg-type]
        value = getattr(group, f.name)
        if value is not None:
            yield f.metadata["env"], str(value)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the userinfo or a ``password=``
    query parameter). Works on the raw text, so unencoded reserved characters in a password,
    a bad port or an IPv6 host neither leak nor raise.

    >>> redact_url("rediss://relscore:hunter2@redis:6380/0")
    'rediss://relscore:***@redis:6380/0'
    """
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
class KafkaConnection:
    """How every client (kafka-python, aiokafka, Faust) reaches Kafka: ``RELSCORE_KAFKA_*``."""

    bootstrap: str = env_field("KAFKA_BOOTSTRAP", "localhost:19092")
    security_protocol: str = env_field("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    sasl_mechanism: str | None = env_field("KAFKA_SASL_MECHANISM", None)
    sasl_username: str | None = env_field("KAFKA_SASL_USERNAME", None)
    sasl_password: str | None = env_field("KAFKA_SASL_PASSWORD", None, secret=True)
    ssl_cafile: str | None = env_field("KAFKA_SSL_CAFILE", None)


@dataclass(frozen=True)
class RedisConnection:
    """The Redis read model: where it is and the prefix of its keys."""

    url: str = env_field("REDIS_URL", "redis://localhost:16379/0", secret=True)
    # CA certificate (PEM) that signed the Redis server's certificate, for rediss:// URLs whose
    # server is not signed by a CA in the system store.
    ca_file: str | None = env_field("REDIS_CA_FILE", None)
    prefix: str = env_field("REDIS_PREFIX", "relscore:")

    def __repr__(self) -> str:
        return (f"RedisConnection(url={redact_url(self.url)!r}, ca_file={self.ca_file!r}, "
                f"prefix={self.prefix!r})")


@dataclass(frozen=True)
class Topics:
    """The topics relscore reads and writes, and the partitions of those it creates."""

    purchases: str = env_field("TOPIC_PURCHASES", "purchases")
    tickets: str = env_field("TOPIC_TICKETS", "support-tickets")
    interactions: str = env_field("TOPIC_INTERACTIONS", "interactions")
    scores: str = env_field("TOPIC_SCORES", "relationship-scores")
    alerts: str = env_field("TOPIC_ALERTS", "relationship-alerts")
    dlq: str = env_field("TOPIC_DLQ", "relationship-dlq")
    rekey: str = env_field("TOPIC_REKEY", "relscore-rekey")
    # customer -> owner (compacted), written by `relscore owners load`
    owners: str = env_field("TOPIC_OWNERS", "relationship-owners")
    # notifications a destination never took, with the reason (written by relscore notify)
    notify_dlq: str = env_field("TOPIC_NOTIFY_DLQ", "relationship-notify-dlq")
    # acknowledgements and snoozes of alerts (compacted), written by the workers' HTTP API
    alert_actions: str = env_field("TOPIC_ALERT_ACTIONS", "relationship-alert-actions")
    partitions: int = env_field("PARTITIONS", 4)
    replication_factor: int = env_field("REPLICATION_FACTOR", 1)

    @property
    def inputs(self) -> tuple[str, str, str]:
        """The three input topics: purchases, support tickets, interactions."""
        return (self.purchases, self.tickets, self.interactions)

    @property
    def by_file_topic(self) -> dict[str, str]:
        """An event file's ``topic`` values (``purchases`` ...) to these topic names.

        >>> Topics(purchases="t1.purchases").by_file_topic["purchases"]
        't1.purchases'
        """
        return {
            "purchases": self.purchases,
            "support-tickets": self.tickets,
            "interactions": self.interactions,
        }


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker scores: its group, state store, input limits, clocks, batches, commits."""

    app_id: str = env_field("APP_ID", "relscore")
    table_store: str = env_field("TABLE_STORE", "memory://")
    # With rocksdb://: memory per table partition for RocksDB's write buffers and block cache.
    rocksdb_memory_mib: int = env_field("ROCKSDB_MEMORY_MIB", 64)
    data_dir: str = env_field("DATA_DIR", ".run/worker")
    config_path: str | None = env_field("CONFIG_PATH", None)
    max_payload_bytes: int = env_field("MAX_PAYLOAD_BYTES", 65536)
    max_future_skew_ms: int = env_field("MAX_FUTURE_SKEW_MS", 5 * 60 * 1000)
    # Event-time clock per partition = highest event time seen - allowed lateness. Customers
    # whose score would cross a level by then are re-scored with reason "decay".
    allowed_lateness_ms: int = env_field("ALLOWED_LATENESS_MS", 60_000)
    # "event": only event time moves the clocks (replays give identical output).
    # "wall": also tick idle partitions with the wall clock every tick_interval_s (live use);
    # the ticks are records on the re-key topic, so a replay of the log repeats them.
    clock: str = env_field("CLOCK", "event")
    tick_interval_s: float = env_field("TICK_INTERVAL_S", 5.0)
    log_level: str = env_field("LOG_LEVEL", "INFO")
    # The scoring agent takes each fetch of the inputs whole: at most batch_size records
    # (Faust's broker_max_poll_records).
    batch_size: int = env_field("BATCH_SIZE", 500)
    # Seconds between offset commits (Faust's broker_commit_interval).
    commit_interval_s: float = env_field("COMMIT_INTERVAL_S", 1.0)
    # Seconds the producer waits to fill a request (Faust's producer_linger); the agent waits
    # for each batch's acks anyway, so a few ms cost little latency and save requests.
    producer_linger_s: float = env_field("PRODUCER_LINGER_S", 0.005)
    # Where the Redis read model is kept: "worker" (a task in each worker) or "off" (run
    # `relscore project` as its own process, which frees the scoring worker's CPU).
    projector: str = env_field("PROJECTOR", "worker")
    # Consumer group session timeout: a worker silent this long loses its partitions.
    session_timeout_s: float = env_field("SESSION_TIMEOUT_S", 30.0)
    # Exit with code 3 when no Kafka bootstrap server answers for this long.
    broker_timeout_s: float = env_field("BROKER_TIMEOUT_S", 120.0)


READ = "read"
OPERATE = "operate"
# What each role may do: read every GET route; operate also acknowledges and snoozes alerts.
ROLES = (READ, OPERATE)
TOKENS_HELP = ("write comma-separated role:token pairs, role read or operate, e.g. "
               "RELSCORE_API_TOKENS=read:TOKEN1,operate:TOKEN2 (make a token with "
               "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
               "or unset it to leave the API open")


@dataclass(frozen=True)
class ApiToken:
    """One bearer token of ``RELSCORE_API_TOKENS`` and its role. ``label`` (``operate#2``:
    the role and the pair's position) names it in logs; the token itself never shows.

    >>> ApiToken(OPERATE, "s3cret", "operate#2")
    ApiToken(role='operate', label='operate#2')
    """

    role: str
    token: str = field(repr=False)
    label: str = ""


def parse_api_tokens(raw: str | None) -> tuple[ApiToken, ...]:
    """The tokens of ``RELSCORE_API_TOKENS`` (``role:token,role:token``); none when unset.

    A malformed value is a :class:`SettingsError` naming the pair by its position, never
    showing any of its text (a token could be in it).

    >>> [t.label for t in parse_api_tokens("read:abc123, operate:def456")]
    ['read#1', 'operate#2']
    >>> try:
    ...     parse_api_tokens("read:abc123,admin:def456")
    ... except SettingsError as exc:
    ...     print(str(exc).split(";")[0])
    RELSCORE_API_TOKENS: pair 2 of 2 has an unknown role (roles: read, operate)
    """
    if raw is None or raw == "":
        return ()
    pairs = raw.split(",")
    tokens: list[ApiToken] = []
    roles: dict[str, str] = {}
    for position, pair in enumerate(pairs, start=1):
        where = f"RELSCORE_API_TOKENS: pair {position} of {len(pairs)}"
        role, colon, token = pair.strip().partition(":")
        role, token = role.strip().lower(), token.strip()
        if not pair.strip():
            problem = "is empty (a stray comma?)"
        elif not colon:
            problem = "has no role (no ':')"
        elif role not in ROLES:
            problem = f"has an unknown role (roles: {', '.join(ROLES)})"
        elif not token:
            problem = f"has an empty {role} token"
        elif not all("!" <= ch <= "~" for ch in token):
            problem = ("has a token with a space or a character outside printable ASCII, "
                       "which no Authorization header can carry")
        elif roles.get(token, role) != role:
            problem = "repeats a token of another pair with another role (each token has one role)"
        else:
            if token not in roles:
                roles[token] = role
                tokens.append(ApiToken(role, token, f"{role}#{position}"))
            continue
        raise SettingsError(f"{where} {problem}; {TOKENS_HELP}")
    return tuple(tokens)


@dataclass(frozen=True)
class WebSettings:
    """The worker's HTTP server (views, page, ``/metrics``) and who may use it.

    >>> WebSettings(api_tokens="read:abc123")
    WebSettings(host='0.0.0.0', port=6066, advertised_host='', api_open_health=True)
    """

    host: str = env_field("WEB_HOST", "0.0.0.0")
    port: int = env_field("WEB_PORT", 6066)
    # Host name other workers use to reach this one (request routing); default: hostname.
    advertised_host: str = env_field("WEB_ADVERTISED_HOST", "")
    # Bearer tokens, "role:token,...": with none, the API is open to anyone reaching the port.
    api_tokens: str | None = env_field("API_TOKENS", None, secret=True)
    # /healthz and /metrics answer without a token (probes and Prometheus need no secret).
    api_open_health: bool = env_field("API_OPEN_HEALTH", True)

    @property
    def tokens(self) -> tuple[ApiToken, ...]:
        """The parsed :data:`api_tokens` (checked by :meth:`Settings.validate`)."""
        return parse_api_tokens(self.api_tokens)

    def client_headers(self, role: str = READ) -> dict[str, str]:
        """Headers a client of the worker sends: a bearer token of ``role`` when there is one
        (else another: an operate token also reads, a read token gets an honest 403), none
        when no tokens are set.

        >>> WebSettings(api_tokens="operate:def456").client_headers()
        {'Authorization': 'Bearer def456'}
        >>> WebSettings().client_headers()
        {}
        """
        tokens = self.tokens
        fitting = [t for t in tokens if t.role == role] or list(tokens)
        return {"Authorization": f"Bearer {fitting[0].token}"} if fitting else {}


@dataclass(frozen=True)
class NotifySettings:
    """``relscore notify``: where alerts go, and its own HTTP port (``/metrics``,
    ``/healthz``). The webhook URL and secret are secrets: never in ``repr`` or the log."""

    # TOML routes file (deploy/notify/routes.example.toml); without it, the one webhook below.
    routes_file: str | None = env_field("NOTIFY_ROUTES", None)
    webhook_url: str | None = env_field("NOTIFY_WEBHOOK_URL", None, secret=True)
    webhook_secret: str | None = env_field("NOTIFY_WEBHOOK_SECRET", None, secret=True)
    port: int = env_field("NOTIFY_PORT", 6068)
    # The page's public URL, for the "open the customer" links in Slack messages and emails.
    page_url: str | None = env_field("NOTIFY_PAGE_URL", None)
    # Where a new consumer group starts on the alerts topic: "earliest" (every alert the topic
    # still holds) or "latest" (only alerts published from now on).
    start_from: str = env_field("NOTIFY_START_FROM", "earliest")
    # Alerts read but not yet done at every destination: reading pauses beyond this.
    max_pending: int = env_field("NOTIFY_MAX_PENDING", 10_000)

    def validate(self) -> None:
        """Refuse what cannot work, naming the variable (never a secret's value).

        >>> try:
        ...     NotifySettings(webhook_url="ftp://hooks.example.com/x?token=s3cret").validate()
        ... except SettingsError as exc:
        ...     print(exc)
        RELSCORE_NOTIFY_WEBHOOK_URL must be an http:// or https:// URL
        """
        if self.webhook_url is not None and not self.webhook_url.startswith(
                ("https://", "http://")):
            raise SettingsError("RELSCORE_NOTIFY_WEBHOOK_URL must be an http:// or https:// URL")
        if self.webhook_secret is not None and self.webhook_url is None:
            raise SettingsError("RELSCORE_NOTIFY_WEBHOOK_SECRET is set without "
                                "RELSCORE_NOTIFY_WEBHOOK_URL; set the URL it signs for")
        if self.start_from not in ("earliest", "latest"):
            raise SettingsError(f"RELSCORE_NOTIFY_START_FROM={self.start_from!r}: use "
                                "'earliest' or 'latest'")
        if self.max_pending < 1:
            raise SettingsError("RELSCORE_NOTIFY_MAX_PENDING must be >= 1")
        if self.page_url is not None and not self.page_url.startswith(("https://", "http://")):
            raise SettingsError(f"RELSCORE_NOTIFY_PAGE_URL={self.page_url!r}: give the page's "
                                "http:// or https:// URL")


_GROUPS: dict[str, type[Any]] = {
    "kafka": KafkaConnection,
    "redis": RedisConnection,
    "topics": Topics,
    "worker": WorkerSettings,
    "web": WebSettings,
    "notify": NotifySettings,
}


def _variable_map() -> dict[str, tuple[str, str]]:
    """``web_port`` (a variable's name without the prefix, lower case) -> ("web", "port")."""
    return {
        f.metadata["env"].removeprefix(ENV_PREFIX).lower(): (group, f.name)
        for group, cls in _GROUPS.items()
        for f in fields(cls)
    }


_VARIABLES = _variable_map()


@dataclass(frozen=True)
class Settings:
    """All runtime settings of a relscore process (README "Settings", docs/design.md)."""

    kafka: KafkaConnection = field(default_factory=KafkaConnection)
    redis: RedisConnection = field(default_factory=RedisConnection)
    topics: Topics = field(default_factory=Topics)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    web: WebSettings = field(default_factory=WebSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the ``RELSCORE_*`` variables of ``env`` (default: the process
        environment) and check them; :class:`SettingsError` names a bad one."""
        source = os.environ if env is None else env
        settings = cls(**{name: group(**env_values(group, source))
                          for name, group in _GROUPS.items()})
        settings.validate()
        return settings

    @staticmethod
    def variables() -> list[str]:
        """The name of every ``RELSCORE_*`` variable these settings read.

        >>> "RELSCORE_KAFKA_BOOTSTRAP" in Settings.variables()
        True
        """
        return [ENV_PREFIX + name.upper() for name in _VARIABLES]

    def to_env(self) -> dict[str, str]:
        """``RELSCORE_*`` variables that reproduce these settings in a child process.

        >>> Settings().override(web_port=7000).to_env()["RELSCORE_WEB_PORT"]
        '7000'
        """
        return dict(pair for name in _GROUPS for pair in env_pairs(getattr(self, name)))

    def override(self, **changes: Any) -> Settings:
        """These settings with some variables changed, each named as its ``RELSCORE_*``
        variable without the prefix, in lower case (``web_port=7000``, ``topic_scores=...``).

        >>> Settings().override(topic_alerts="a", app_id="g").topics.alerts
        'a'
        >>> Settings().override(web_prot=1)
        Traceback (most recent call last):
        ...
        TypeError: no setting RELSCORE_WEB_PROT
        """
        grouped: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name not in _VARIABLES:
                raise TypeError(f"no setting {ENV_PREFIX}{name.upper()}")
            group, attribute = _VARIABLES[name]
            grouped.setdefault(group, {})[attribute] = value
        return dataclasses.replace(self, **{
            group: dataclasses.replace(getattr(self, group), **values)
            for group, values in grouped.items()
        })

    def namespaced(self, tag: str, **overrides: Any) -> Settings:
        """These settings with an app id (consumer group) and topics of their own, named
        after ``tag``: for tests, demos and replays that must not see each other's records.

        >>> Settings().namespaced("t1").topics.scores
        't1.relationship-scores'
        """
        values: dict[str, Any] = {
            "app_id": f"relscore-{tag}",
            "topic_purchases": f"{tag}.purchases",
            "topic_tickets": f"{tag}.support-tickets",
            "topic_interactions": f"{tag}.interactions",
            "topic_scores": f"{tag}.relationship-scores",
            "topic_alerts": f"{tag}.relationship-alerts",
            "topic_dlq": f"{tag}.relationship-dlq",
            "topic_rekey": f"{tag}.rekey",
            "topic_owners": f"{tag}.relationship-owners",
            "topic_notify_dlq": f"{tag}.relationship-notify-dlq",
            "topic_alert_actions": f"{tag}.relationship-alert-actions",
        }
        return self.override(**{**values, **overrides})

    def validate(self) -> None:
        """Refuse settings that cannot work, naming the variable and what to do."""
        kafka, redis, topics, worker, web = (
            self.kafka, self.redis, self.topics, self.worker, self.web)
        if topics.partitions < 1:
            raise SettingsError("RELSCORE_PARTITIONS must be >= 1")
        for name, port in (("RELSCORE_WEB_PORT", web.port),
                           ("RELSCORE_NOTIFY_PORT", self.notify.port)):
            if not 0 < port < 65536:
                raise SettingsError(f"{name}={port} is not a TCP port (1-65535)")
        self.notify.validate()
        parse_api_tokens(web.api_tokens)
        if worker.max_payload_bytes < 256:
            raise SettingsError("RELSCORE_MAX_PAYLOAD_BYTES must be at least 256")
        if worker.clock not in ("event", "wall"):
            raise SettingsError(f"RELSCORE_CLOCK={worker.clock!r}: use 'event' or 'wall'")
        if worker.allowed_lateness_ms < 0:
            raise SettingsError("RELSCORE_ALLOWED_LATENESS_MS must be >= 0")
        if worker.rocksdb_memory_mib < MIN_ROCKSDB_MEMORY_MIB:
            raise SettingsError(
                f"RELSCORE_ROCKSDB_MEMORY_MIB={worker.rocksdb_memory_mib}: give each RocksDB "
                f"partition at least {MIN_ROCKSDB_MEMORY_MIB} (MiB)"
            )
        if worker.batch_size < 1:
            raise SettingsError("RELSCORE_BATCH_SIZE must be >= 1")
        if worker.session_timeout_s < 6:
            raise SettingsError("RELSCORE_SESSION_TIMEOUT_S must be at least 6 (seconds)")
        if worker.broker_timeout_s <= 0:
            raise SettingsError("RELSCORE_BROKER_TIMEOUT_S must be > 0 (seconds)")
        if worker.projector not in ("worker", "off"):
            raise SettingsError(
                f"RELSCORE_PROJECTOR={worker.projector!r}: use 'worker' (the worker keeps Redis "
                "up to date) or 'off' (run `relscore project` as a process of its own)"
            )
        if not 0 <= worker.producer_linger_s <= 1:
            raise SettingsError("RELSCORE_PRODUCER_LINGER_S must be between 0 and 1 (seconds)")
        if worker.tick_interval_s <= 0:
            raise SettingsError("RELSCORE_TICK_INTERVAL_S must be > 0")
        if kafka.security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise SettingsError(
                f"RELSCORE_KAFKA_SECURITY_PROTOCOL={kafka.security_protocol!r}: use one of "
                "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            )
        for name, path in (("RELSCORE_KAFKA_SSL_CAFILE", kafka.ssl_cafile),
                           ("RELSCORE_REDIS_CA_FILE", redis.ca_file)):
            if path and not Path(path).is_file():
                raise SettingsError(f"{name}={path!r}: no such file (a PEM CA certificate)")
        if redis.ca_file and urlsplit(redis.url).scheme != "rediss":
            raise SettingsError(
                "RELSCORE_REDIS_CA_FILE is set but RELSCORE_REDIS_URL is not a rediss:// (TLS) URL"
            )
        if kafka.security_protocol.startswith("SASL") and not (
            kafka.sasl_username and kafka.sasl_password and kafka.sasl_mechanism
        ):
            raise SettingsError(
                "SASL needs RELSCORE_KAFKA_SASL_MECHANISM, RELSCORE_KAFKA_SASL_USERNAME and "
                "RELSCORE_KAFKA_SASL_PASSWORD"
            )
