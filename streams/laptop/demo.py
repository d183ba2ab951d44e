"""``relscore demo``: the local stack, a worker, a simulated population, a readable summary.

The closing summary is a pure function of what the run left on the output topics (score and
alert messages) and a few facts about the run (:class:`RunFacts`): :func:`build_summary`
computes it, :func:`summary_lines` prints it. :func:`run_demo` returns both (and the run's
topic names) in a :class:`DemoResult`, so a test can check the summary against the topics.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from redis.exceptions import RedisError

from scorers.config import DAY_MS, ScoringConfig
from scorers.model import BAND_NAMES
from scorers.timefmt import format_ms, parse_rfc3339_ms
from streams.kafka_clients import kafka_client_config
from streams.laptop.demo_notifications import (
    NotificationTally,
    demo_owners,
    notification_lines,
    routes_env,
    tally,
    write_routes,
)
from streams.laptop.simulator import (
    DUPLICATE,
    LATE,
    MALFORMED,
    PERSONAS,
    ProduceProgress,
    SimSpec,
    Simulation,
    produce_simulation,
    simulate,
)
from streams.laptop.stack import StackError, stack_down, stack_status, stack_up
from streams.laptop.stack_settings import StackSettings
from streams.laptop.webhook_inbox import WebhookInbox
from streams.laptop.worker_process import NotifyProcess, WorkerProcess
from streams.runtime.topic_layout import ensure_topics, required_topics
from streams.settings import OPERATE, Settings
from streams.tools.owner_loader import load_owners
from streams.tools.topic_reader import read_all, wait_caught_up

DEFAULT_CUSTOMERS = 48
DEFAULT_DAYS = 90
DEFAULT_SEED = 7
DEFAULT_RATE = 150.0
# At most this many records sent and not yet scored: a slow machine slows the feed down
# rather than letting a backlog build, so records are scored about as they are sent.
DEFAULT_WINDOW = 300
PATH_STEP_MS = 14 * DAY_MS
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

Message = dict[str, Any]
Echo = Callable[[str], None]


# ---------------------------------------------------------------- the summary (pure)


@dataclass(frozen=True)
class RunFacts:
    """What the run did, apart from its outputs: sizes and timings (seconds, wall clock)."""

    customers: int
    days: int
    start: str  # first simulated day, YYYY-MM-DD
    end: str
    sent: int  # messages produced
    late: int = 0
    duplicates: int = 0
    malformed: int = 0
    produce_seconds: float = 0.0  # first message sent .. last one acknowledged
    scored_seconds: float = 0.0  # first message sent .. worker group caught up
    max_backlog: int = 0  # largest number of input records not yet scored, as observed
    threshold: float = 60.0


@dataclass(frozen=True)
class AlertedCustomer:
    """One customer who alerted: the alerts, the score path and the current score."""

    customer_id: str
    alerts: list[Message]
    path: list[tuple[int, float, bool]]  # (event time ms, score, an alert fired here)
    score: float
    band: str
    drivers: list[Message]  # what pulled the score down at the latest problem alert
    persona: str | None = None


@dataclass(frozen=True)
class DemoSummary:
    """The demo's closing summary, computed from the output topics' messages."""

    facts: RunFacts
    customers: int
    score_messages: int
    bands: dict[str, int]
    alerts: list[Message]  # every alert, in event-time order
    alert_types: dict[str, int]
    alerted: list[AlertedCustomer]  # lowest current score first
    at_risk: list[tuple[str, float]]  # below the threshold now, lowest first
    personas: dict[str, str] | None = None
    persona_alerts: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        seconds = self.facts.scored_seconds
        return self.facts.sent / seconds if seconds > 0 else 0.0


def _alert_key(alert: Message) -> tuple[int, str, int]:
    return (parse_rfc3339_ms(alert["as_of"]), alert["customer_id"],
            ("below_threshold", "sharp_drop", "recovered").index(alert["type"])
            if alert["type"] in ("below_threshold", "sharp_drop", "recovered") else 9)


def score_path(messages: Sequence[Message], alerts: Sequence[Message],
               step_ms: int = PATH_STEP_MS) -> list[tuple[int, float, bool]]:
    """A customer's published scores, thinned to the last one of every ``step_ms`` of event
    time, plus every score published with an alert (marked)."""
    if not messages:
        return []
    alerted = {(a["as_of"], a["score"]) for a in alerts}
    first = parse_rfc3339_ms(messages[0]["as_of"])
    keep: dict[int, int] = {}  # bucket -> index of its last message
    marks: set[int] = set()
    for index, message in enumerate(messages):
        at = parse_rfc3339_ms(message["as_of"])
        keep[(at - first) // step_ms] = index
        if (message["as_of"], message["score"]) in alerted:
            marks.add(index)
    chosen = sorted({0, *keep.values(), *marks})
    return [
        (parse_rfc3339_ms(messages[i]["as_of"]), float(messages[i]["score"]), i in marks)
        for i in chosen
    ]


def build_summary(scores: Sequence[Message], alerts: Sequence[Message], facts: RunFacts,
                  personas: dict[str, str] | None = None) -> DemoSummary:
    """The summary of a run from its score messages (in topic order: each customer's in the
    order published) and alert messages."""
    by_customer: dict[str, list[Message]] = {}
    for message in scores:
        by_customer.setdefault(message["customer_id"], []).append(message)
    latest = {cid: messages[-1] for cid, messages in by_customer.items()}
    bands = Counter(message["band"] for message in latest.values())
    ordered = sorted(alerts, key=_alert_key)
    alerts_of: dict[str, list[Message]] = {}
    for alert in ordered:
        alerts_of.setdefault(alert["customer_id"], []).append(alert)
    alerted: list[AlertedCustomer] = []
    for cid, own in alerts_of.items():
        now = latest.get(cid)
        problems = [a for a in own if a["type"] != "recovered"] or own
        alerted.append(AlertedCustomer(
            customer_id=cid,
            alerts=own,
            path=score_path(by_customer.get(cid, []), own),
            score=float(now["score"]) if now else float(own[-1]["score"]),
            band=now["band"] if now else own[-1]["band"],
            drivers=list(problems[-1].get("drivers", [])),
            persona=(personas or {}).get(cid),
        ))
    alerted.sort(key=lambda a: (a.score, a.customer_id))
    at_risk = sorted(
        ((cid, float(m["score"])) for cid, m in latest.items()
         if m["score"] < facts.threshold and not m.get("alert_hold")),
        key=lambda item: (item[1], item[0]),
    )
    persona_alerts: dict[str, tuple[int, int, int]] = {}
    if personas:
        for persona in PERSONAS:
            members = [cid for cid, p in personas.items() if p == persona]
            if not members:
                continue
            below = sum(any(a["type"] == "below_threshold" for a in alerts_of.get(cid, []))
                        for cid in members)
            recovered = sum(any(a["type"] == "recovered" for a in alerts_of.get(cid, []))
                            for cid in members)
            persona_alerts[persona] = (below, recovered, len(members))
    return DemoSummary(
        facts=facts,
        customers=len(latest),
        score_messages=len(scores),
        bands={band: bands.get(band, 0) for band in BAND_NAMES},
        alerts=ordered,
        alert_types=dict(Counter(alert["type"] for alert in ordered)),
        alerted=alerted,
        at_risk=at_risk,
        personas=personas,
        persona_alerts=persona_alerts,
    )


def path_text(path: Sequence[tuple[int, float, bool]]) -> str:
    """``93 -> 91 -> 58.4* -> 44``: whole scores, and the exact one where an alert fired
    (marked ``*``)."""
    parts: list[str] = []
    for _, score, marked in path:
        text = f"{score:.1f}*" if marked else f"{score:.0f}"
        if not parts or parts[-1] != text:
            parts.append(text)
    return " -> ".join(parts)


def _alert_text(alert: Message) -> str:
    was = alert.get("previous_score")
    was_text = f" (was {was:.1f})" if isinstance(was, int | float) else ""
    drop = f", -{alert['drop']:.0f} in {alert.get('window_days', 7):.0f} days" if \
        alert["type"] == "sharp_drop" and "drop" in alert else ""
    return (f"{alert['as_of'][:10]} {alert['severity'].upper()} {alert['type']} "
            f"{alert['score']:.1f}{was_text}{drop}")


def summary_lines(summary: DemoSummary) -> list[str]:
    """The closing summary, in words a customer-success lead can act on."""
    f = summary.facts
    types = summary.alert_types
    lines = [
        f"Scored {f.sent:,} messages from {summary.customers} customers "
        f"({f.days} days of event time, {f.start} to {f.end}) in {f.scored_seconds:.1f} s: "
        f"{summary.events_per_second:,.0f} events/s.",
        f"  noise on purpose: {f.late} late, {f.duplicates} duplicates (counted once), "
        f"{f.malformed} malformed (sent to the dead-letter topic)",
        f"  lag: at most {f.max_backlog:,} messages waiting to be scored; all scored "
        f"{max(0.0, f.scored_seconds - f.produce_seconds):.1f} s after the last was sent",
        "",
        "Customers per band now: " + ", ".join(
            f"{band} {summary.bands.get(band, 0)}" for band in BAND_NAMES),
        f"Alerts: {len(summary.alerts)} ({types.get('below_threshold', 0)} fell below "
        f"{f.threshold:g}, {types.get('sharp_drop', 0)} sharp drops, "
        f"{types.get('recovered', 0)} recovered) for {len(summary.alerted)} customers; "
        "score path every 2 weeks, * = alert:",
    ]
    for customer in summary.alerted:
        persona = f"  [simulated: {customer.persona}]" if customer.persona else ""
        lines.append(f"  {customer.customer_id:<28} now {customer.score:5.1f} "
                     f"{customer.band:<9}{persona}")
        lines.append(f"      score path: {path_text(customer.path)}")
        lines.extend(f"      {_alert_text(alert)}" for alert in customer.alerts)
        if customer.drivers:
            lines.append("      why: " + "; ".join(d["detail"] for d in customer.drivers))
    lines.append("")
    at_risk = ", ".join(f"{cid} ({score:.1f})" for cid, score in summary.at_risk)
    lines.append(f"At risk now (below {f.threshold:g}, lowest first): {at_risk or 'none'}")
    if summary.persona_alerts:
        parts = []
        for persona, (below, recovered, total) in summary.persona_alerts.items():
            text = f"{persona} {below}/{total} fell below"
            if persona == "recovering":
                text += f" and {recovered}/{total} recovered"
            parts.append(text)
        lines.append("Against the simulation's truth: " + "; ".join(parts) + ".")
    return lines


# ---------------------------------------------------------------- the run


@dataclass
class DemoResult:
    """What :func:`run_demo` did: exit code, the run's settings (topic names) and summary."""

    code: int
    settings: Settings | None = None
    simulation: Simulation | None = None
    summary: DemoSummary | None = None
    lines: list[str] = field(default_factory=list)
    worker_pid: int | None = None
    notifications: NotificationTally | None = None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_settings(settings: Settings, run_dir: Path, run_id: str) -> Settings:
    """Settings whose topics, consumer group and Redis keys belong to this demo run alone;
    the worker keeps its data under ``run_dir``. Its API needs a token: the one
    ``RELSCORE_API_TOKENS`` gives, else a new operate token (printed in the summary)."""
    prefix = f"demo-{run_id}."
    port = settings.web.port if _port_free(settings.web.port) else _free_port()
    notify_port = settings.notify.port if _port_free(settings.notify.port) else _free_port()
    return settings.override(
        app_id=f"relscore-demo-{run_id}",
        topic_purchases=prefix + "purchases",
        topic_tickets=prefix + "support-tickets",
        topic_interactions=prefix + "interactions",
        topic_scores=prefix + "relationship-scores",
        topic_alerts=prefix + "relationship-alerts",
        topic_dlq=prefix + "relationship-dlq",
        topic_rekey=prefix + "rekey",
        topic_owners=prefix + "relationship-owners",
        topic_notify_dlq=prefix + "relationship-notify-dlq",
        topic_alert_actions=prefix + "relationship-alert-actions",
        redis_prefix=f"relscore-demo-{run_id}:",
        web_port=port,
        notify_port=notify_port,
        notify_page_url=f"http://127.0.0.1:{port}",
        data_dir=str(run_dir / "worker"),
        api_tokens=settings.web.api_tokens or f"{OPERATE}:{secrets.token_urlsafe(24)}",
    )


def demo_token(settings: Settings, demo: Settings) -> str | None:
    """What to paste into the page: the operate token made for the demo; not shown when
    ``RELSCORE_API_TOKENS`` (``settings``) gave the tokens: they are the user's secrets.

    >>> demo = demo_settings(Settings(), Path("/tmp/r"), "r1")
    >>> demo_token(Settings(), demo) == demo.web.tokens[0].token
    True
    >>> demo_token(Settings().override(api_tokens="read:mine"), demo) is None
    True
    """
    if settings.web.api_tokens:
        return None
    return demo.web.client_headers(OPERATE)["Authorization"].removeprefix("Bearer ")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _Probe:
    """Reads the run's progress from Kafka: records scored (committed by the worker group),
    records waiting, and alerts published so far."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
        self.consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                                      **kafka_client_config(settings.kafka))
        self.inputs = self._partitions(settings.topics.inputs)
        self.alerts = self._partitions([settings.topics.alerts])

    def _partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for topic in topics
                for p in sorted(self.consumer.partitions_for_topic(topic) or set())]

    def read(self) -> tuple[int, int, int]:
        """(scored, waiting, alerts) right now."""
        group = self.settings.worker.app_id
        committed = self.admin.list_group_offsets(group).get(group, {})
        ends = self.consumer.end_offsets(self.inputs + self.alerts)
        scored = waiting = 0
        for tp in self.inputs:
            meta = committed.get(tp)
            done = max(0, meta.offset) if meta is not None else 0
            scored += min(done, ends[tp])
            waiting += max(0, ends[tp] - done)
        return scored, waiting, sum(ends[tp] for tp in self.alerts)

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def _bar(done: int, total: int, width: int = 24) -> str:
    filled = width * done // total if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _watch(settings: Settings, sim: Simulation, progress: ProduceProgress,
           producer: threading.Thread, echo: Echo, interactive: bool, window: int) -> int:
    """Show progress until the producer is done and the worker has scored everything, and
    let the producer run at most ``window`` records ahead of the worker; returns the largest
    backlog seen."""
    probe = _Probe(settings)
    total = len(sim.records)
    max_backlog = 0
    last_shown = -1
    try:
        while True:
            done = not producer.is_alive()
            scored, waiting, alerts = probe.read()
            progress.allowed = scored + window
            max_backlog = max(max_backlog, waiting)
            sent = progress.sent
            day = sim.records[sent - 1].send_ms if sent else sim.spec.start_ms
            line = (f"  {_bar(scored, total)} sent {sent:,}/{total:,}  scored {scored:,}  "
                    f"alerts {alerts}  event time {format_ms(day)[:10]}")
            finished = done and waiting == 0
            if interactive:
                sys.stdout.write("\r" + line + ("\n" if finished else ""))
                sys.stdout.flush()
            else:
                tenth = 10 * scored // total if total else 10
                if tenth != last_shown or finished:
                    last_shown = tenth
                    echo(line)
            if finished:
                return max_backlog
            if done and progress.errors:
                raise RuntimeError(f"{progress.errors} messages could not be sent: "
                                   f"{progress.last_error}")
            time.sleep(0.5)
    finally:
        probe.close()


def _delete_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(**kafka_client_config(settings.kafka))
    try:
        names = [spec.name for spec in required_topics(settings)]
        existing = set(admin.list_topics())
        admin.delete_topics([n for n in names if n in existing])
    finally:
        admin.close()


def _delete_redis_keys(settings: Settings) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis.url, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{settings.redis.prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


def _where_lines(demo: Settings, sim: Simulation, pid: int | None,
                 token: str | None) -> list[str]:
    base = f"http://127.0.0.1:{demo.web.port}"
    some = sim.customers_of("churning")[:1] or sorted(sim.personas)[:1]
    example = some[0] if some else "CUSTOMER"
    shown = token or "yours, from RELSCORE_API_TOKENS"
    tokens = f"RELSCORE_API_TOKENS={OPERATE}:{token}" if token else "RELSCORE_API_TOKENS=..."
    return [
        f"  dashboard          {base}/",
        f"  API token          {shown}",
        "                     (paste it when the page asks; curl -H 'Authorization: Bearer "
        "<token>' for the API; it acknowledges and snoozes too)",
        f"  at-risk list       {base}/at-risk?limit=20",
        f"  one customer       {base}/customers/{example}",
        f"  recent alerts      {base}/alerts/recent?limit=20",
        f"  metrics            {base}/metrics",
        "  from the terminal, with these settings:",
        f"    export RELSCORE_WEB_PORT={demo.web.port} "
        f"RELSCORE_TOPIC_SCORES={demo.topics.scores} RELSCORE_TOPIC_ALERTS={demo.topics.alerts} "
        f"{tokens}",
        f"    relscore customer {example}",
        "    relscore tail alerts --from-beginning",
    ]


def run_demo(
    settings: Settings,
    cfg: ScoringConfig,
    *,
    stack: StackSettings,
    keep_stack: bool = False,
    customers: int = DEFAULT_CUSTOMERS,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    rate: float = DEFAULT_RATE,
    keep_topics: bool = False,
    window: int = DEFAULT_WINDOW,
    echo: Echo = _say,
    interactive: bool | None = None,
) -> DemoResult:
    """Run the whole tour. ``keep_stack`` leaves Kafka, Redis and the worker running (and the
    run's topics); ``keep_topics`` keeps only the topics (tests read them afterwards).
    ``stack`` says where the local stack runs (and keeps the run's files).
    The feed runs at up to ``rate`` messages a second and at most ``window`` messages ahead
    of the worker."""
    if interactive is None:
        interactive = sys.stdout.isatty()
    started_stack = False
    try:
        before = stack_status(stack)
        if not (before.kafka_up and before.redis_up):
            echo("Starting the local stack (Kafka + Redis); the first run fetches Kafka jars...")
            stack_up(stack, echo=echo)
            started_stack = True
    except StackError as exc:
        echo(f"relscore demo: cannot start the stack: {exc}")
        return DemoResult(code=3)
    run_id = f"{int(time.time())}-{os.getpid()}"
    run_dir = stack.run_path / f"demo-{run_id}"
    demo = demo_settings(settings, run_dir, run_id)
    token = demo_token(settings, demo)
    worker = WorkerProcess(demo, run_dir / "worker.log")
    sim = simulate(SimSpec(customers=customers, days=days, seed=seed))
    result = DemoResult(code=1, settings=demo, simulation=sim)
    keep_worker = False
    halt = threading.Event()
    secret = os.urandom(16).hex()
    inbox = WebhookInbox(secret)
    notify: NotifyProcess | None = None
    try:
        ensure_topics(demo)
        owners = demo_owners(sorted(sim.personas))
        load_owners(demo, owners)
        run_dir.mkdir(parents=True, exist_ok=True)
        inbox.start()
        notify = NotifyProcess(demo.override(notify_routes=str(write_routes(run_dir))),
                               run_dir / "notify.log", routes_env(inbox.url, secret))
        echo(f"Starting relscore notify (log: {notify.log_path}): alerts of the {len(owners)} "
             f"customers with an owner go to their owner, the others to the team, all at a "
             f"local webhook ({inbox.url.rsplit('/', 1)[0]})...")
        notify.start().wait_ready()
        echo(f"Starting a worker (log: {worker.log_path})...")
        worker.start().wait_ready()
        mix = ", ".join(f"{len(sim.customers_of(p))} {p}" for p in PERSONAS)
        echo(f"Simulating {customers} customers ({mix}) over {days} days of event time, "
             f"{len(sim.records):,} messages at {rate:g}/s (seed {seed}).")
        echo(f"Watch it live: http://127.0.0.1:{demo.web.port}/ (served by the worker; "
             f"API token {token or 'yours, from RELSCORE_API_TOKENS'})")
        progress = ProduceProgress(total=len(sim.records), allowed=window)
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                produce_simulation(demo, sim, rate=rate, progress=progress, stop=halt)
            except (KafkaError, OSError) as exc:
                failure.append(exc)

        producer = threading.Thread(target=produce, name="demo-producer", daemon=True)
        producer.start()
        max_backlog = _watch(demo, sim, progress, producer, echo, interactive, window)
        producer.join()
        if failure:
            raise RuntimeError(f"producing failed: {failure[0]}")
        wait_caught_up(demo, include_rekey=False)  # scored: the group's lag is zero
        scored_at = time.monotonic()
        facts = RunFacts(
            customers=customers,
            days=days,
            start=_day(sim.spec.start_ms),
            end=_day(sim.spec.end_ms - DAY_MS),
            sent=progress.sent,
            late=sim.counts.get(LATE, 0),
            duplicates=sim.counts.get(DUPLICATE, 0),
            malformed=sim.counts.get(MALFORMED, 0),
            produce_seconds=progress.finished - progress.started,
            scored_seconds=scored_at - progress.started,
            max_backlog=max_backlog,
            threshold=cfg.alerts.threshold,
        )
        scores = read_all(demo, demo.topics.scores, timeout=60)
        alerts = read_all(demo, demo.topics.alerts, timeout=60)
        summary = build_summary(scores, alerts, facts, personas=sim.personas)
        result.summary = summary
        result.notifications = _await_notifications(alerts, inbox)
        result.lines = [*summary_lines(summary), *notification_lines(result.notifications)]
        echo("")
        for line in result.lines:
            echo(line)
        echo("")
        keep_worker = keep_stack
        if keep_worker:
            result.worker_pid = worker.process.pid if worker.process else None
            echo("The worker, Kafka and Redis keep running (--keep-stack):")
            for line in _where_lines(demo, sim, result.worker_pid, token):
                echo(line)
            echo(f"Stop: kill {result.worker_pid} (the demo worker), then `relscore stack down`.")
        else:
            echo("The dashboard and API were served by the demo's worker while it ran:")
            for line in _where_lines(demo, sim, None, token)[:7]:
                echo(line)
            echo("Everything is stopped now; to keep the worker and the stack running and "
                 "explore them, run `relscore demo --keep-stack`.")
        result.code = 0
    except (KafkaError, TimeoutError, RuntimeError, OSError) as exc:
        echo(f"relscore demo failed: {exc}\n{worker.log_tail()}")
        result.code = 1
    except KeyboardInterrupt:
        echo("\nInterrupted; cleaning up.")
        result.code = 130
    finally:
        halt.set()  # stops the feed if it still runs (an error or Ctrl-C)
        if notify is not None:
            notify.stop()
        inbox.close()
        if not keep_worker:
            worker.stop()
            if not keep_topics:
                with contextlib.suppress(KafkaError, OSError):
                    _delete_topics(demo)  # best effort: the demo's topics are throwaway
            with contextlib.suppress(RedisError, OSError):
                _delete_redis_keys(demo)
            shutil.rmtree(Path(demo.worker.data_dir), ignore_errors=True)
            if started_stack and not keep_stack:
                echo("Stopping the local stack (use --keep-stack to leave it running).")
                stack_down(stack)
    return result


def _await_notifications(alerts: Sequence[Message], inbox: WebhookInbox,
                         timeout_s: float = 60.0) -> NotificationTally:
    """What the receiver took once every alert is there (or ``timeout_s`` has passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = tally(alerts, inbox.received)
        if not result.missing or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def _day(epoch_ms: int) -> str:
    return format_ms(epoch_ms)[:10]
