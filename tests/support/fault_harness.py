"""A verifying harness for fault tests: "nothing lost, nothing twice".

:func:`generate` builds a deterministic workload for a seed: many customers, each with a
numbered sequence of events over the three input topics (``event_id`` = ``{customer}-{seq}``,
the sequence number also in an extra ``seq`` field, which the validator ignores), with a few
events sent twice on purpose (a producer retry: the same ``event_id`` must be counted once).
Its expected outcome (:meth:`Workload.expected`) is computed independently, by the offline
scorer (:func:`streams.tools.offline_scoring.score_lines`) over the same events in the same order.

The stream's outcome equals the offline scorer's only where the order in which the worker
reads the records cannot matter. A Faust agent reading several topics interleaves their
partitions round-robin, and a partition's event-time clock waits for topics with records left
to read, so the workload comes in weekly *rounds* of two phases each, and :func:`feed` waits
until the worker group has committed one phase before it sends the next:

- a *clock* phase: one event on every input topic of every partition, all at the round's
  clock time ``S``, each from a customer seen only that once (``clock-r{round}-p{partition}-
  {topic}``). Once the worker has read them, every partition's clock stands at
  ``S - allowed lateness`` whatever the interleaving, so every decay re-score due before it
  fires before the round's events, exactly as offline;
- an *events* phase: each customer's events of the round, all on one topic (one Kafka
  partition keeps them in order), at event times in ``[S - 55 s, S - 10 s]``: after the clock
  (nothing is late) and too close to it to move it (no due time fires mid-phase).

Event times are fixed (from 2026-01-01) and in the past, so nothing is refused as future.

:func:`check` reads the score topic, the alert topic and (optionally) Redis and returns a
:class:`Report`: lost updates (a customer whose final score message differs from the expected
one: ``events_seen`` counts applied events, so loss and double counting both show), missing
alerts, unexpected alerts, redelivered alerts (the same ``alert_id`` again with identical
content except ``emitted_at``: an at-least-once redelivery, reported apart so each test decides
whether it is acceptable), conflicting alerts (the same ``alert_id`` with other content, never
acceptable) and Redis rows that differ from the score topic.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from scorers.config import DAY_MS, HOUR_MS, ScoringConfig
from scorers.events import Limits
from streams.kafka_clients import kafka_client_config
from streams.runtime.partitioning import partition_for
from streams.settings import Settings
from streams.tools.event_file_sender import topic_names
from streams.tools.offline_scoring import OfflineResult, score_lines
from streams.tools.topic_reader import Message, latest_by_customer, read_all, wait_caught_up

__all__ = [
    "BASE_MS",
    "CLOCK",
    "EVENTS",
    "PERSONAS",
    "AlertProblem",
    "Feeder",
    "Phase",
    "Report",
    "ScoreMismatch",
    "Workload",
    "caught_up",
    "check",
    "check_alerts",
    "check_scores",
    "feed",
    "generate",
    "read_redis",
    "redis_mismatches",
]

# 2026-01-01T00:00:00Z: fixed, so that a seed always gives the same events, and in the past.
BASE_MS = 1_767_225_600_000
ROUND_GAP_MS = 7 * DAY_MS
# A round's events lie in [S - EARLIEST, S - LATEST] for its clock time S.
EARLIEST_MS = 55_000
LATEST_MS = 10_000
PERSONAS = ("loyal", "slipping", "churning", "recovering", "quiet")
TOPICS = ("purchases", "support-tickets", "interactions")
CLOCK = "clock"
EVENTS = "events"
# Fields of a score message that must match the offline scorer's final message exactly.
SCORE_FIELDS = ("score", "band", "events_seen", "as_of", "components", "confidence", "reason")
Event = dict[str, Any]


# ---------------------------------------------------------------- workload


@dataclass(frozen=True)
class Phase:
    """Events sent together; the next phase waits until the worker has committed these."""

    round: int
    kind: str  # CLOCK or EVENTS
    events: list[Event]


@dataclass
class Workload:
    """The events to send, phase by phase, in send order (each with a ``topic`` field)."""

    seed: int
    partitions: int
    personas: dict[str, str]
    phases: list[Phase]
    duplicates_sent: int

    @property
    def events(self) -> list[Event]:
        return [event for phase in self.phases for event in phase.events]

    @property
    def customers(self) -> list[str]:
        """The simulated customers (not the one-event clock customers)."""
        return sorted(self.personas)

    @property
    def rounds(self) -> int:
        return 1 + max(phase.round for phase in self.phases)

    def lines(self) -> list[bytes]:
        """The workload as an event file's lines (what ``relscore score`` reads)."""
        return [orjson.dumps(event) for event in self.events]

    def expected(self, cfg: ScoringConfig, settings: Settings) -> OfflineResult:
        """The outcome the offline scorer computes, with the stream's partitions and lateness."""
        if settings.topics.partitions != self.partitions:
            raise ValueError(f"workload made for {self.partitions} partitions, settings have "
                             f"{settings.topics.partitions}")
        if settings.worker.allowed_lateness_ms < EARLIEST_MS + 1000:
            raise ValueError("the workload needs RELSCORE_ALLOWED_LATENESS_MS >= 56000")
        return score_lines(
            self.lines(), cfg, reference_ms=None,
            limits=Limits(settings.worker.max_payload_bytes, settings.worker.max_future_skew_ms),
            partitions=settings.topics.partitions,
            allowed_lateness_ms=settings.worker.allowed_lateness_ms,
        )


class _Customer:
    """One simulated customer: its persona, its next sequence number, its open tickets."""

    def __init__(self, cid: str, persona: str, rng: random.Random) -> None:
        self.cid = cid
        self.persona = persona
        self.rng = rng
        self.seq = 0
        self.open: list[str] = []
        self.tickets = 0

    def _base(self, topic: str, ts: int) -> Event:
        self.seq += 1
        return {"topic": topic, "event_id": f"{self.cid}-{self.seq:04d}", "seq": self.seq,
                "customer_id": self.cid, "ts": ts}

    def mood(self, r: int, rounds: int) -> str:
        """How the customer behaves in round ``r``: good, meh, bad, fix, or off (silent)."""
        third = max(1, rounds // 3)
        if self.persona == "loyal":
            return "good"
        if self.persona == "slipping":
            return "good" if r < third else "meh"
        if self.persona == "churning":
            return "good" if r < third else "bad"
        if self.persona == "recovering":
            return "good" if r < third else "bad" if r < 2 * third else "fix"
        return "good" if r < max(1, rounds // 2) else "off"  # quiet: then silence (decay)

    def round_events(self, r: int, rounds: int, start_ms: int) -> list[Event]:
        mood = self.mood(r, rounds)
        if mood == "off":
            return []
        rng = self.rng
        topic = rng.choices(TOPICS, weights=_TOPIC_WEIGHTS[mood])[0]
        if mood == "fix" and self.open:
            topic = "support-tickets"
        count = rng.randint(1, 3)
        events: list[Event] = []
        for j in range(count):
            ts = start_ms + j * 1000
            event = self._base(topic, ts)
            if topic == "purchases":
                self._purchase(event, mood)
            elif topic == "support-tickets":
                self._ticket(event, mood)
            else:
                self._interaction(event, mood)
            events.append(event)
        return events

    def _purchase(self, event: Event, mood: str) -> None:
        rng = self.rng
        event["order_id"] = f"{self.cid}-o{event['seq']}"
        event["product_id"] = f"product-{rng.randrange(5)}"
        if mood == "bad" and rng.random() < 0.5:
            event["type"] = rng.choice(("return", "refund"))
            event["amount"] = round(rng.uniform(100, 400), 2)
        else:
            low, high = (20, 80) if mood in ("bad", "meh") else (150, 450)
            event["amount"] = round(rng.uniform(low, high), 2)
            event["quantity"] = rng.randint(1, 3)

    def _ticket(self, event: Event, mood: str) -> None:
        rng = self.rng
        closing = self.open and (mood in ("good", "fix") or rng.random() < 0.2)
        if closing:
            ticket = self.open.pop(0)
            event["ticket_id"] = ticket
            event["status"] = "resolved"
            event["csat"] = rng.randint(4, 5) if mood in ("good", "fix") else rng.randint(1, 2)
            return
        self.tickets += 1
        ticket = f"{self.cid}-T{self.tickets}"
        if mood == "bad" and self.open and rng.random() < 0.3:
            event["ticket_id"] = self.open[0]
            event["status"] = "escalated"
            event["priority"] = "urgent"
            self.tickets -= 1
            return
        event["ticket_id"] = ticket
        event["status"] = "opened"
        event["priority"] = {
            "good": "low", "meh": "normal", "bad": rng.choice(("high", "urgent")), "fix": "low",
        }[mood]
        self.open.append(ticket)

    def _interaction(self, event: Event, mood: str) -> None:
        rng = self.rng
        if mood in ("good", "fix"):
            event["channel"] = rng.choice(("meeting", "call", "email", "feature_use"))
            event["direction"] = "outbound"
            event["sentiment"] = round(rng.uniform(0.3, 0.9), 2)
            event["product_id"] = f"product-{rng.randrange(5)}"
            if rng.random() < 0.3:
                event["nps"] = rng.randint(9, 10)
        elif mood == "meh":
            event["channel"] = rng.choice(("email", "chat"))
            event["sentiment"] = round(rng.uniform(-0.3, 0.2), 2)
            if rng.random() < 0.3:
                event["nps"] = rng.randint(5, 7)
        else:
            event["channel"] = rng.choice(("chat", "survey"))
            event["direction"] = "inbound"
            event["sentiment"] = round(rng.uniform(-0.95, -0.5), 2)
            if event["channel"] == "survey":
                event["nps"] = rng.randint(0, 2)
                event["csat"] = 1


_TOPIC_WEIGHTS: dict[str, tuple[float, float, float]] = {
    # purchases, support-tickets, interactions
    "good": (0.45, 0.15, 0.40),
    "meh": (0.25, 0.35, 0.40),
    "bad": (0.15, 0.50, 0.35),
    "fix": (0.40, 0.30, 0.30),
}


def clock_customer(prefix: str, r: int, partition: int, topic: str, partitions: int) -> str:
    """A customer id that Kafka's default partitioner puts on ``partition``."""
    for salt in range(100_000):
        cid = f"{prefix}clock-r{r}-p{partition}-{topic}-{salt}"
        if partition_for(cid.encode(), partitions) == partition:
            return cid
    raise RuntimeError("no clock customer id found")  # pragma: no cover


def clock_event(cid: str, topic: str, ts: int) -> Event:
    """A valid, unremarkable event of ``topic`` for a one-event clock customer."""
    event: Event = {"topic": topic, "event_id": f"{cid}-1", "seq": 1, "customer_id": cid,
                    "ts": ts}
    if topic == "purchases":
        event.update(order_id=f"{cid}-o1", amount=10.0, product_id="clock")
    elif topic == "support-tickets":
        event.update(ticket_id=f"{cid}-T1", status="opened", priority="low")
    else:
        event.update(channel="login")
    return event


def generate(seed: int, customers: int = 200, rounds: int = 8, *, partitions: int = 4,
             duplicate_rate: float = 0.03, base_ms: int = BASE_MS,
             round_gap_ms: int = ROUND_GAP_MS, prefix: str = "h") -> Workload:
    """A deterministic workload: ``customers`` customers over ``rounds`` rounds.

    Personas are dealt round-robin from :data:`PERSONAS` (after a seeded shuffle of the ids),
    so every workload has customers that stay healthy, slip, churn (alerts), recover
    (``recovered`` alerts) and fall silent (decay re-scores driven by event time alone).
    Raises ValueError when the last event would not be in the past.
    """
    if customers < 1 or rounds < 1:
        raise ValueError("need at least one customer and one round")
    if round_gap_ms < 10 * EARLIEST_MS:
        raise ValueError("rounds must be more than ten minutes apart")
    last_ms = base_ms + rounds * round_gap_ms + 10 * HOUR_MS
    if last_ms >= time.time() * 1000:
        raise ValueError(f"{rounds} rounds from {base_ms} reach into the future; move base_ms")
    rng = random.Random(seed)
    tag = f"{prefix}{seed}-"
    ids = [f"{tag}c{i:04d}" for i in range(customers)]
    rng.shuffle(ids)
    people = [_Customer(cid, PERSONAS[i % len(PERSONAS)], random.Random(f"{seed}:{cid}"))
              for i, cid in enumerate(ids)]
    phases: list[Phase] = []
    duplicates = 0
    for r in range(rounds):
        clock_ms = base_ms + r * round_gap_ms + 9 * HOUR_MS + EARLIEST_MS
        ticks = [clock_event(clock_customer(tag, r, p, topic, partitions), topic, clock_ms)
                 for p in range(partitions) for topic in TOPICS]
        phases.append(Phase(r, CLOCK, ticks))
        batch: list[Event] = []
        for person in people:
            # Each customer's events start somewhere in the window, 1 s apart (at most 3).
            start = clock_ms - EARLIEST_MS + rng.randrange(0, EARLIEST_MS - LATEST_MS - 2000,
                                                             1000)
            batch.extend(person.round_events(r, rounds, start))
        batch.sort(key=lambda e: (e["ts"], e["event_id"]))
        copies = [dict(event) for event in batch if rng.random() < duplicate_rate]
        # The copies go out at the end of the phase: same topic, same key, later offsets.
        duplicates += len(copies)
        phases.append(Phase(r, EVENTS, batch + copies))
    return Workload(seed=seed, partitions=partitions,
                    personas={p.cid: p.persona for p in people}, phases=phases,
                    duplicates_sent=duplicates)


# ---------------------------------------------------------------- feeding


class Feeder:
    """Sends workload events keyed by ``customer_id`` with kafka-python (acks=all)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = topic_names(settings)
        self.producer = KafkaProducer(acks="all", linger_ms=5,
                                      **kafka_client_config(settings.kafka))
        self.sent = 0

    def send(self, events: Iterable[Event]) -> int:
        count = 0
        for event in events:
            body = {k: v for k, v in event.items() if k != "topic"}
            self.producer.send(self.names[event["topic"]], key=event["customer_id"].encode(),
                               value=orjson.dumps(body))
            count += 1
        self.producer.flush(timeout=120)
        self.sent += count
        return count

    def close(self) -> None:
        self.producer.close(timeout=10)


def feed(workload: Workload, settings: Settings, *,
         after_send: Callable[[Phase, int], None] | None = None,
         timeout: float = 180.0, feeder: Feeder | None = None) -> None:
    """Send the workload phase by phase; after each phase call ``after_send(phase, index)``
    (inject a fault there) and wait until the worker group has committed everything sent."""
    own = feeder is None
    sender = feeder or Feeder(settings)
    try:
        for index, phase in enumerate(workload.phases):
            sender.send(phase.events)
            if after_send is not None:
                after_send(phase, index)
            caught_up(settings, timeout=timeout)
    finally:
        if own:
            sender.close()


def caught_up(settings: Settings, timeout: float = 180.0) -> None:
    """:func:`streams.tools.topic_reader.wait_caught_up`, riding out a broker that is (re)starting:
    the
    group coordinator answers NotCoordinator or CoordinatorLoadInProgress for a while."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            wait_caught_up(settings, timeout=max(1.0, deadline - time.monotonic()))
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


# ---------------------------------------------------------------- checking


@dataclass(frozen=True)
class ScoreMismatch:
    """A customer whose final score message is not the expected one (or is missing)."""

    customer_id: str
    expected: dict[str, Any]
    actual: dict[str, Any] | None

    @property
    def fields(self) -> list[str]:
        if self.actual is None:
            return ["<no score message>"]
        return [name for name in SCORE_FIELDS
                if self.expected.get(name) != self.actual.get(name)]

    def __str__(self) -> str:
        if self.actual is None:
            return f"{self.customer_id}: no score message (expected {_brief(self.expected)})"
        return (f"{self.customer_id}: {', '.join(self.fields)} differ: expected "
                f"{_brief(self.expected)}, got {_brief(self.actual)}")


@dataclass(frozen=True)
class AlertProblem:
    """An alert that is missing, unexpected, or differs from another copy or the expected."""

    alert_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.alert_id}: {self.detail}"


@dataclass
class Report:
    """What :func:`check` found. ``ok()`` says whether every check passed."""

    customers_expected: int = 0
    customers_seen: int = 0
    events_expected: int = 0
    duplicates_expected: int = 0
    score_messages: int = 0
    alert_messages: int = 0
    alerts_expected: int = 0
    lost_updates: list[ScoreMismatch] = field(default_factory=list)
    unknown_customers: list[str] = field(default_factory=list)
    missing_alerts: list[AlertProblem] = field(default_factory=list)
    unexpected_alerts: list[AlertProblem] = field(default_factory=list)
    # One entry per extra copy of an alert identical to the first except for emitted_at.
    redelivered_alerts: list[str] = field(default_factory=list)
    conflicting_alerts: list[AlertProblem] = field(default_factory=list)
    redis_checked: bool = False
    redis_mismatches: list[str] = field(default_factory=list)

    def problems(self, *, allow_redelivered: bool) -> list[str]:
        """One line per failed check, with up to five examples each."""
        out: list[str] = []

        def add(name: str, items: Sequence[object]) -> None:
            if items:
                examples = "; ".join(str(item) for item in items[:5])
                out.append(f"{len(items)} {name}: {examples}")

        add("lost updates", self.lost_updates)
        add("unknown customers", self.unknown_customers)
        add("missing alerts", self.missing_alerts)
        add("unexpected alerts", self.unexpected_alerts)
        add("conflicting alerts", self.conflicting_alerts)
        if not allow_redelivered:
            add("redelivered alerts", self.redelivered_alerts)
        add("redis mismatches", self.redis_mismatches)
        return out

    def ok(self, *, allow_redelivered: bool) -> bool:
        return not self.problems(allow_redelivered=allow_redelivered)

    def summary(self) -> str:
        lines = [
            f"customers {self.customers_seen}/{self.customers_expected}, events expected "
            f"{self.events_expected} (+{self.duplicates_expected} duplicates sent), "
            f"score messages {self.score_messages}, alerts {self.alert_messages} "
            f"(expected {self.alerts_expected}, redelivered copies "
            f"{len(self.redelivered_alerts)}), redis "
            f"{'checked' if self.redis_checked else 'not checked'}",
        ]
        lines += self.problems(allow_redelivered=False)
        return "\n".join(lines)


def _brief(message: dict[str, Any]) -> str:
    return (f"score={message.get('score')} events_seen={message.get('events_seen')} "
            f"as_of={message.get('as_of')} reason={message.get('reason')}")


def _without_emitted_at(alert: Message) -> Message:
    return {k: v for k, v in alert.items() if k != "emitted_at"}


def check_scores(expected: OfflineResult, messages: list[Message], report: Report) -> None:
    latest = latest_by_customer(messages)
    report.score_messages = len(messages)
    report.customers_seen = len(latest)
    report.customers_expected = len(expected.scores)
    for customer, want in sorted(expected.scores.items()):
        got = latest.get(customer)
        if got is None or any(want.get(name) != got.get(name) for name in SCORE_FIELDS):
            report.lost_updates.append(ScoreMismatch(customer, want, got))
    report.unknown_customers = sorted(set(latest) - set(expected.scores))


def check_alerts(expected: OfflineResult, alerts: list[Message], report: Report) -> None:
    report.alert_messages = len(alerts)
    report.alerts_expected = len(expected.alerts)
    wanted = {alert["alert_id"]: alert for alert in expected.alerts}
    seen: dict[str, Message] = {}
    for alert in alerts:
        aid = str(alert.get("alert_id"))
        first = seen.get(aid)
        if first is None:
            seen[aid] = alert
            want = wanted.get(aid)
            if want is None:
                same = [w for w, a in wanted.items()
                        if (a["customer_id"], a["type"]) == (alert.get("customer_id"),
                                                             alert.get("type"))]
                detail = (f"not expected ({alert.get('type')} at {alert.get('as_of')}, "
                          f"score {alert.get('score')}); expected for this customer and type: "
                          f"{same or 'none'}")
                report.unexpected_alerts.append(AlertProblem(aid, detail))
            elif _without_emitted_at(alert) != _without_emitted_at(want):
                diff = sorted(k for k in set(alert) | set(want) if k != "emitted_at"
                              and alert.get(k) != want.get(k))
                report.conflicting_alerts.append(
                    AlertProblem(aid, f"content differs from the expected alert in {diff}"))
        elif _without_emitted_at(alert) == _without_emitted_at(first):
            report.redelivered_alerts.append(aid)
        else:
            diff = sorted(k for k in set(alert) | set(first) if k != "emitted_at"
                          and alert.get(k) != first.get(k))
            report.conflicting_alerts.append(
                AlertProblem(aid, f"published again with different {diff}"))
    for aid, want in wanted.items():
        if aid not in seen:
            report.missing_alerts.append(AlertProblem(
                aid, f"{want['type']} at {want['as_of']} (score {want['score']}) never published"))


def read_redis(settings: Settings) -> tuple[dict[str, dict[str, str]], dict[str, float],
                                           dict[str, float]]:
    """The read model: customer hashes, the ``scores`` and ``at_risk`` sorted sets."""
    import redis

    extra: dict[str, Any] = {}
    if settings.redis.ca_file:
        extra["ssl_ca_certs"] = settings.redis.ca_file
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=5,
                                  socket_connect_timeout=5, **extra)
    prefix = settings.redis.prefix
    try:
        def ranked(name: str) -> dict[str, float]:
            rows = cast(list[tuple[bytes, float]],
                        client.zrange(f"{prefix}{name}", 0, -1, withscores=True))
            return {member.decode(): float(score) for member, score in rows}

        scores = ranked("scores")
        at_risk = ranked("at_risk")
        pipe = client.pipeline(transaction=False)
        names = sorted(scores)
        for name in names:
            pipe.hgetall(f"{prefix}customer:{name}")
        hashes = cast(list[dict[bytes, bytes]], pipe.execute())
        rows = {name: {k.decode(): v.decode() for k, v in row.items()}
                for name, row in zip(names, hashes, strict=True)}
        return rows, scores, at_risk
    finally:
        client.close()


def redis_mismatches(settings: Settings, latest: dict[str, Message],
                     threshold: float) -> list[str]:
    """Where Redis differs from the score topic's final messages (empty: converged)."""
    import redis

    try:
        rows, scores, at_risk = read_redis(settings)
    except (redis.RedisError, OSError) as exc:
        return [f"redis unreadable: {exc.__class__.__name__}"]
    out: list[str] = []
    for customer, message in sorted(latest.items()):
        row = rows.get(customer) or {}
        if customer not in scores:
            out.append(f"{customer}: not in the scores set")
            continue
        if scores[customer] != message["score"]:
            out.append(f"{customer}: scores set has {scores[customer]}, topic {message['score']}")
        if row.get("score") != str(message["score"]) or row.get("events_seen") != str(
                message["events_seen"]) or row.get("as_of") != message["as_of"]:
            out.append(f"{customer}: hash has score={row.get('score')} events_seen="
                       f"{row.get('events_seen')} as_of={row.get('as_of')}, topic "
                       f"{_brief(message)}")
        # At risk: under the threshold with the evidence to page (not on alert_hold).
        below = message["score"] < threshold and not message.get("alert_hold")
        if below != (customer in at_risk):
            out.append(f"{customer}: at_risk membership {customer in at_risk}, score "
                       f"{message['score']} vs threshold {threshold}, alert_hold "
                       f"{message.get('alert_hold')}")
    extra = sorted(set(scores) - set(latest))
    out += [f"{customer}: in Redis but not on the score topic" for customer in extra]
    return out


def check(workload: Workload, settings: Settings, cfg: ScoringConfig, *,
          redis: bool = False, redis_timeout: float = 30.0,
          expected: OfflineResult | None = None) -> Report:
    """Compare the output topics (and Redis) with the offline scorer's outcome.

    Call it once the worker group has caught up (:func:`feed` returns then). With ``redis``,
    waits up to ``redis_timeout`` s for the read model to equal the score topic's final state.
    """
    want = expected or workload.expected(cfg, settings)
    report = Report(events_expected=want.events, duplicates_expected=want.duplicates)
    messages = read_all(settings, settings.topics.scores, timeout=60)
    check_scores(want, messages, report)
    check_alerts(want, read_all(settings, settings.topics.alerts, timeout=60), report)
    if redis:
        report.redis_checked = True
        latest = latest_by_customer(messages)
        deadline = time.monotonic() + redis_timeout
        while True:
            report.redis_mismatches = redis_mismatches(settings, latest, cfg.alerts.threshold)
            if not report.redis_mismatches or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    return report


def persona_counts(workload: Workload) -> dict[str, int]:
    return dict(Counter(workload.personas.values()))


def alerts_by_type(result: OfflineResult) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for alert in result.alerts:
        counts[alert["type"]] += 1
    return dict(counts)
