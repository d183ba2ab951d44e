"""A simulated customer population: deterministic for a seed, produced to the input topics.

Generation is pure: :func:`simulate` returns a :class:`Simulation` (the records to send, in
send order, and each customer's persona) from a :class:`SimSpec` alone, so two runs with one
seed are identical and tests can score them offline. :func:`produce_simulation` sends those
records with kafka-python, keyed by ``customer_id``, paced by a rate or by the wall clock.

Personas, each driven by a health curve ``h(day)`` in 0..1 that sets how often and how well
the customer buys, talks, answers surveys and files tickets:

- ``loyal``: steady purchases over several products, regular meetings, promoters, few tickets
  resolved in time;
- ``slipping``: starts loyal, then slowly buys less, talks less and less warmly, and its
  tickets take longer;
- ``churning``: starts loyal, then purchases stop (one last refund), urgent tickets pile up and
  are escalated instead of resolved, and its surveys turn detractor;
- ``recovering``: a rough patch like a churner's, then the account team fixes it: tickets
  are resolved, purchases resume, surveys come back positive.

Noise, on top: late (out-of-order) interactions and purchases sent hours to days after their
event time, duplicated messages (the same ``event_id`` sent twice), and a few malformed
messages sent raw so that they land on the dead-letter topic.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from scorers.config import DAY_MS, HOUR_MS
from scorers.timefmt import format_ms, parse_rfc3339_ms
from streams.laptop.scenario import EPOCH_MS
from streams.settings import Settings

PERSONAS = ("loyal", "slipping", "churning", "recovering")
# Event time of the first simulated day: 2026-06-01T00:00:00Z (fixed, so runs replay exactly).
SIM_EPOCH_MS = EPOCH_MS

# Kinds of record in a simulation.
EVENT = "event"
LATE = "late"
DUPLICATE = "duplicate"
MALFORMED = "malformed"

_COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "wonka",
    "tyrell", "cyberdyne", "soylent", "aperture", "oscorp", "piedpiper", "dunder", "gringotts",
    "nakatomi", "monarch", "sirius", "virtucon", "zorg", "bluth", "krusty", "prestige",
)
_TRADES = (
    "retail", "logistics", "health", "foods", "media", "systems", "energy", "finance",
    "motors", "labs", "travel", "insurance",
)
_PRODUCTS = (
    "crm", "billing", "analytics", "helpdesk", "payments", "mobile-app", "api", "training",
    "data-export", "sso",
)
_TICKET_CATEGORIES = ("billing", "bug", "access", "performance", "how-to", "outage")


@dataclass(frozen=True)
class SimSpec:
    """What to simulate: ``customers`` over ``days`` of event time from ``start_ms``."""

    customers: int = 50
    days: int = 90
    seed: int = 1
    start_ms: int = SIM_EPOCH_MS
    noise: bool = True

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS


@dataclass(frozen=True)
class SimRecord:
    """One message to send: at event-time moment ``send_ms`` to input ``topic``.

    ``topic`` is the file topic name (``purchases``, ``support-tickets``, ``interactions``);
    ``value`` the exact bytes sent; ``event`` the event (with its ``topic`` field) or None for
    a malformed message; ``kind`` one of ``event``, ``late``, ``duplicate``, ``malformed``.
    """

    send_ms: int
    topic: str
    key: str | None
    value: bytes
    event: dict[str, Any] | None
    kind: str = EVENT

    def line(self) -> bytes:
        """This record as a line of an event file (``relscore score``, ``relscore produce``)."""
        if self.event is not None:
            return orjson.dumps(self.event)
        try:
            obj = orjson.loads(self.value)
        except orjson.JSONDecodeError:
            return self.value
        if isinstance(obj, dict):
            return orjson.dumps({"topic": self.topic, **obj})
        return self.value


@dataclass
class Simulation:
    """A simulated population: the records in send order and the ground truth."""

    spec: SimSpec
    personas: dict[str, str]
    segments: dict[str, str | None]
    records: list[SimRecord]
    counts: dict[str, int] = field(default_factory=dict)
    # Churning customers and when they count as gone: the end of the simulated days (the
    # simulation models their decline, not a cancellation date).
    churned_at: dict[str, int] = field(default_factory=dict)

    def events(self) -> list[dict[str, Any]]:
        """Every well-formed message's event (``topic`` field included), in send order;
        duplicates are repeated where they are re-sent."""
        return [record.event for record in self.records if record.event is not None]

    def lines(self) -> list[bytes]:
        """The whole stream as event-file lines (malformed ones as they are sent)."""
        return [record.line() for record in self.records]

    def messages(self) -> Iterator[tuple[str, bytes | None, bytes]]:
        """``(file topic, key, value)`` of every record, in send order."""
        for record in self.records:
            yield record.topic, None if record.key is None else record.key.encode(), record.value

    def customers_of(self, persona: str) -> list[str]:
        return sorted(cid for cid, p in self.personas.items() if p == persona)

    def outcomes(self) -> list[dict[str, Any]]:
        """The truth as ``relscore backtest --outcomes`` reads it: every churning customer
        churned (``at``: the end of the simulated days), no one else did."""
        return [
            {"customer_id": cid, "churned": cid in self.churned_at,
             **({"at": format_ms(self.churned_at[cid])} if cid in self.churned_at else {})}
            for cid in sorted(self.personas)
        ]


# ---------------------------------------------------------------- personas


def persona_mix(customers: int) -> dict[str, int]:
    """How many customers of each persona a population of ``customers`` holds."""
    if customers < len(PERSONAS):
        order = ("loyal", "churning", "slipping", "recovering")
        return {p: int(order.index(p) < customers) for p in PERSONAS}
    churning = max(1, round(customers * 0.15))
    recovering = max(1, round(customers * 0.10))
    slipping = max(1, round(customers * 0.20))
    loyal = customers - churning - recovering - slipping
    return {"loyal": loyal, "slipping": slipping, "churning": churning, "recovering": recovering}


@dataclass
class _Curve:
    """A persona's health over the simulated days, with its turning points."""

    persona: str
    days: int
    base: float
    turn: float = 0.0  # slipping/churning: the day trouble starts; recovering: dip start
    fix: float = 0.0  # recovering: the day the fix starts

    def __call__(self, day: float) -> float:
        if self.persona == "loyal":
            return self.base
        if self.persona == "slipping":
            if day < self.turn:
                return self.base
            progress = min(1.0, (day - self.turn) / max(1.0, self.days - self.turn))
            return self.base - (self.base - 0.30) * progress
        if self.persona == "churning":
            if day < self.turn:
                return self.base
            return max(0.05, self.base - (day - self.turn) / 8.0)
        # recovering
        if day < self.turn:
            return self.base
        if day < self.fix:
            return max(0.10, self.base - (day - self.turn) / 5.0)
        return min(0.95, 0.25 + (day - self.fix) / 10.0)

    def troubled(self, day: float) -> bool:
        """In the churn or rough-patch phase (tickets are not being resolved)."""
        if self.persona == "churning":
            return day >= self.turn
        if self.persona == "recovering":
            return self.turn <= day < self.fix
        return False


def _curve(persona: str, days: int, rng: random.Random) -> _Curve:
    base = rng.uniform(0.86, 0.98)
    if persona == "slipping":
        return _Curve(persona, days, base, turn=rng.uniform(0.15, 0.35) * days)
    if persona == "churning":
        return _Curve(persona, days, base, turn=rng.uniform(0.25, 0.45) * days)
    if persona == "recovering":
        turn = rng.uniform(0.12, 0.2) * days
        return _Curve(persona, days, base, turn=turn, fix=turn + rng.uniform(0.28, 0.33) * days)
    return _Curve(persona, days, base)


class _Customer:
    """Generates one customer's events, day by day, from its health curve."""

    def __init__(self, cid: str, persona: str, segment: str | None, spec: SimSpec,
                 rng: random.Random) -> None:
        self.cid = cid
        self.persona = persona
        self.segment = segment
        self.spec = spec
        self.rng = rng
        self.curve = _curve(persona, spec.days, rng)
        scale = {"enterprise": 2500.0, "smb": 180.0}.get(segment or "", 600.0)
        self.basket = scale * rng.uniform(0.7, 1.4)
        self.products = rng.sample(_PRODUCTS, rng.randint(4, 6))
        self.buy_every = rng.uniform(6.0, 10.0)  # days between purchases when healthy
        self.last_buy = -rng.uniform(0.0, self.buy_every - 3.0)  # days: the order before
        self.jitter = 1.0
        self.events: list[dict[str, Any]] = []
        self.seq = 0
        # ticket id -> (priority, opened day, day it will be resolved or None)
        self.open: dict[str, tuple[str, float, float | None]] = {}
        self.tickets = 0
        self.refunded = False

    # ------------------------------------------------------------ event builders

    def _ts(self, day: float) -> int:
        return self.spec.start_ms + int(day * DAY_MS)

    def _event(self, topic: str, day: float, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        ts = self._ts(day)
        event: dict[str, Any] = {
            "topic": topic,
            "event_id": f"{self.cid}-{self.seq:05d}",
            "customer_id": self.cid,
            # Interactions carry RFC 3339 times, the rest epoch ms: both are accepted.
            "ts": format_ms(ts) if topic == "interactions" else ts,
        }
        if self.segment is not None:
            event["segment"] = self.segment
        event.update({k: v for k, v in fields.items() if v is not None})
        self.events.append(event)
        return event

    def _moment(self, day: int, first_hour: float = 8.0, last_hour: float = 18.0) -> float:
        return day + self.rng.uniform(first_hour, last_hour) / 24.0

    def purchase(self, day: float, kind: str = "purchase", amount: float | None = None) -> None:
        product = self.rng.choice(self.products)
        value = amount if amount is not None else \
            self.basket * self.rng.lognormvariate(0, 0.25) * min(1.0, self.curve(day) + 0.1)
        self._event(
            "purchases", day, order_id=f"{self.cid}-o{self.seq + 1}", type=kind,
            amount=round(value, 2), currency="USD", product_id=product,
            quantity=self.rng.randint(1, 5) if kind == "purchase" else None,
        )

    def touch(self, day: float, channel: str, **fields: Any) -> None:
        self._event("interactions", day, channel=channel, **fields)

    def ticket(self, day: float, tid: str, status: str, priority: str, **fields: Any) -> None:
        self._event("support-tickets", day, ticket_id=tid, status=status, priority=priority,
                    **fields)

    # ------------------------------------------------------------ one day

    def _chance(self, per_day: float) -> bool:
        return self.rng.random() < per_day

    def day(self, day: int) -> None:
        h = self.curve(day + 0.5)
        troubled = self.curve.troubled(day + 0.5)
        rng = self.rng
        weekday = day % 7 < 5
        # Purchases come at a regular cadence that stretches as health falls; a troubled
        # customer stops buying altogether.
        if not troubled and day >= self.last_buy + self.buy_every * self.jitter / h ** 3:
            self.purchase(self._moment(day))
            self.last_buy, self.jitter = day, rng.uniform(0.7, 1.3)
        if troubled and not self.refunded and self._chance(0.3):
            self.refunded = True
            self.purchase(self._moment(day), kind="refund", amount=round(self.basket * 0.8, 2))
        # Account-team contact and product use.
        if weekday and self._chance(0.12 * h):
            self.touch(self._moment(day, 9, 17), "meeting", direction="outbound",
                       sentiment=self._sentiment(h))
        if weekday and self._chance(0.10 * h):
            self.touch(self._moment(day), "call", direction=rng.choice(("inbound", "outbound")),
                       sentiment=self._sentiment(h))
        if self._chance(0.08 + 0.1 * h):
            self.touch(self._moment(day), "email", direction=rng.choice(("inbound", "outbound")))
        if self._chance(0.3 * h ** 2):
            self.touch(self._moment(day, 6, 23), "login")
        if self._chance(0.15 * h ** 2):
            self.touch(self._moment(day, 6, 23), "feature_use",
                       product_id=rng.choice(self.products))
        if troubled and self._chance(0.15):
            self.touch(self._moment(day, 7, 22), "chat", direction="inbound",
                       sentiment=round(rng.uniform(-0.95, -0.5), 2))
        # Surveys: NPS and CSAT follow health.
        if self._chance(self._survey_rate(day, troubled)):
            nps = max(0, min(10, round(10 * h + rng.gauss(0.3, 0.8))))
            csat = max(1, min(5, round(1 + 4 * h + rng.gauss(0, 0.4))))
            self.touch(self._moment(day), "survey", direction="inbound", nps=nps, csat=csat)
        self._support(day, h, troubled)

    def _survey_rate(self, day: int, troubled: bool) -> float:
        if troubled:
            return 1 / 7
        if self.persona == "recovering" and day >= self.curve.fix:
            return 1 / 8  # the account team checks in after the fix
        return 1 / 25

    def _sentiment(self, h: float) -> float:
        return round(max(-1.0, min(1.0, 1.6 * h - 0.8 + self.rng.gauss(0, 0.1))), 2)

    def _support(self, day: int, h: float, troubled: bool) -> None:
        rng = self.rng
        # New tickets: rare and mild when healthy, frequent and urgent when troubled.
        if troubled:
            opened = self._chance(0.35)
            priority = rng.choice(("urgent", "urgent", "high"))
        else:
            opened = self._chance(0.03 + 0.06 * (1 - h))
            mild = ("low", "normal", "normal", "normal", "high")
            priority = rng.choice(mild if h > 0.6 else ("normal", "high"))
        if opened:
            self.tickets += 1
            tid = f"{self.cid}-T{self.tickets}"
            at = self._moment(day, 7, 20)
            self.ticket(at, tid, "opened", priority, category=rng.choice(_TICKET_CATEGORIES))
            due = None if troubled else at + self._resolution_days(priority, h)
            self.open[tid] = (priority, at, due)
        # Progress on open tickets.
        for tid, (priority, at, due) in sorted(self.open.items()):
            if at >= day + 1:
                continue
            if troubled:
                # Nobody resolves anything while things go wrong; urgent ones get escalated,
                # and the customer gives up on some, closing them with a furious CSAT.
                if priority == "urgent" and self._chance(0.08):
                    self.ticket(self._moment(day), tid, "escalated", priority)
                elif priority == "high" and self._chance(0.1):
                    self.ticket(self._moment(day), tid, "closed", priority, csat=1)
                    del self.open[tid]
                continue
            if due is None:
                # A backlog left from a rough patch: worked off within days, mixed CSAT.
                if self._chance(0.5):
                    self._resolve(self._moment(day), tid, priority, rng.choice((3, 4, 4, 5)))
                continue
            if due < day + 1:
                csat = max(1, min(5, round(1 + 4 * h + rng.gauss(0, 0.5))))
                self._resolve(max(due, float(day)), tid, priority, csat)

    def _resolution_days(self, priority: str, h: float) -> float:
        """How long a ticket opened now takes: within SLA for healthy accounts, later else."""
        sla_days = {"low": 5.0, "normal": 2.0, "high": 1.0, "urgent": 1 / 3}[priority]
        speed = 0.25 + 0.75 * h
        return self.rng.uniform(0.15, 0.9) * sla_days / speed

    def _resolve(self, at: float, tid: str, priority: str, csat: int) -> None:
        self.ticket(at, tid, "resolved", priority, csat=csat)
        del self.open[tid]

    def run(self) -> list[dict[str, Any]]:
        # An existing customer: the history starts with an order and a check-in.
        self.purchase(self._moment(0))
        self.touch(self._moment(0, 9, 17), "meeting", direction="outbound",
                   sentiment=self._sentiment(self.curve(0)))
        for day in range(self.spec.days):
            self.day(day)
        self.events.sort(key=lambda e: (_ts_ms(e), e["event_id"]))
        return self.events


def _ts_ms(event: dict[str, Any]) -> int:
    ts = event["ts"]
    return ts if isinstance(ts, int) else parse_rfc3339_ms(ts)


# ---------------------------------------------------------------- population


def _customer_ids(count: int, rng: random.Random) -> list[str]:
    names = [f"{c}-{t}" for c in _COMPANIES for t in _TRADES]
    rng.shuffle(names)
    return [f"{names[i % len(names)]}-{i + 1:03d}" for i in range(count)]


def _malformed(spec: SimSpec, rng: random.Random, cids: list[str]) -> list[SimRecord]:
    """A few messages the worker must refuse (to the dead-letter topic) without stopping."""
    count = max(3, spec.customers // 10)
    out: list[SimRecord] = []
    for n in range(count):
        cid = rng.choice(cids)
        send = spec.start_ms + int(rng.uniform(0.05, 0.95) * spec.days * DAY_MS)
        kind = n % 6
        topic = "purchases"
        key: str | None = cid
        if kind == 0:  # truncated JSON
            value = b'{"event_id": "' + f"{cid}-bad{n}".encode() + b'", "customer_id": "'
        elif kind == 1:  # amount as text
            value = orjson.dumps({"event_id": f"{cid}-bad{n}", "customer_id": cid, "ts": send,
                                  "order_id": f"{cid}-x{n}", "amount": "12.50",
                                  "product_id": "crm"})
        elif kind == 2:  # not UTF-8, no key
            value, key = b"\xff\xfe\x00\x01 legacy export row", None
        elif kind == 3:  # unknown priority
            topic = "support-tickets"
            value = orjson.dumps({"event_id": f"{cid}-bad{n}", "customer_id": cid, "ts": send,
                                  "ticket_id": f"{cid}-X{n}", "status": "opened",
                                  "priority": "p0"})
        elif kind == 4:  # no customer id
            topic, key = "interactions", None
            value = orjson.dumps({"event_id": f"anon-bad{n}", "ts": send, "channel": "login"})
        else:  # NPS out of range
            topic = "interactions"
            value = orjson.dumps({"event_id": f"{cid}-bad{n}", "customer_id": cid,
                                  "ts": format_ms(send), "channel": "survey", "nps": 11})
        out.append(SimRecord(send, topic, key, value, None, MALFORMED))
    return out


def simulate(spec: SimSpec) -> Simulation:
    """The simulated population for ``spec`` (pure: same spec, same records)."""
    rng = random.Random(f"relscore-sim:{spec.seed}:{spec.customers}:{spec.days}")
    cids = _customer_ids(spec.customers, rng)
    mix = persona_mix(spec.customers)
    personas_list = [p for p in PERSONAS for _ in range(mix[p])]
    rng.shuffle(personas_list)
    personas = dict(zip(cids, personas_list, strict=True))
    segments: dict[str, str | None] = {
        cid: rng.choice(("enterprise", "smb", "smb", None, None)) for cid in cids
    }
    records: list[SimRecord] = []
    churned_at: dict[str, int] = {}
    for cid in cids:
        crng = random.Random(f"relscore-sim:{spec.seed}:{cid}")
        customer = _Customer(cid, personas[cid], segments[cid], spec, crng)
        events = customer.run()
        if customer.persona == "churning":
            churned_at[cid] = spec.end_ms
        for event in events:
            ts = _ts_ms(event)
            value = orjson.dumps({k: v for k, v in event.items() if k != "topic"})
            records.append(SimRecord(ts, event["topic"], cid, value, event))
    counts = {EVENT: len(records), LATE: 0, DUPLICATE: 0, MALFORMED: 0}
    if spec.noise:
        noisy: list[SimRecord] = []
        for record in records:
            roll = rng.random()
            if roll < 0.03 and record.topic != "support-tickets":
                # Late: a batch export or a mobile client that was offline.
                delay = int(rng.uniform(2 * HOUR_MS, 3 * DAY_MS))
                noisy.append(SimRecord(record.send_ms + delay, record.topic, record.key,
                                       record.value, record.event, LATE))
                counts[LATE] += 1
                continue
            noisy.append(record)
            if roll > 0.98:
                # Duplicate: a producer retry re-sends the same message a little later.
                delay = int(rng.uniform(1_000, 6 * HOUR_MS))
                noisy.append(SimRecord(record.send_ms + delay, record.topic, record.key,
                                       record.value, record.event, DUPLICATE))
                counts[DUPLICATE] += 1
        malformed = _malformed(spec, rng, cids)
        counts[MALFORMED] = len(malformed)
        records = noisy + malformed
    order = sorted(range(len(records)), key=lambda i: (records[i].send_ms, i))
    records = [records[i] for i in order]
    return Simulation(spec, personas, segments, records, counts, churned_at)


# ---------------------------------------------------------------- producing


@dataclass
class ProduceProgress:
    """Counters a producing thread updates (read them from another thread)."""

    total: int = 0
    sent: int = 0
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0
    done: bool = False
    last_error: str = ""
    # Flow control: when set, records from this index on wait until it is raised (the demo
    # keeps the worker's backlog bounded this way, so records are scored about as they come).
    allowed: int | None = None


Sleep = Callable[[float], None]


def produce_simulation(
    settings: Settings,
    sim: Simulation,
    *,
    rate: float = 0.0,
    realtime: bool = False,
    progress: ProduceProgress | None = None,
    stop: threading.Event | None = None,
    on_sent: Callable[[ProduceProgress], None] | None = None,
    anchor_ms: int | None = None,
) -> ProduceProgress:
    """Send ``sim``'s records to the configured input topics, keyed by customer id.

    Pacing: with ``realtime`` event time runs with the wall clock: the event time
    ``anchor_ms`` (default: the simulation's start) is now, and each record goes out when the
    wall clock has moved as far as its event time is past the anchor (records before the
    anchor go out at once). Otherwise ``rate`` records per second (0: as fast as the broker
    takes them). ``stop`` ends early. Returns the counters.
    """
    from kafka import KafkaProducer

    from streams.kafka_clients import kafka_client_config
    from streams.tools.event_file_sender import topic_names

    names = topic_names(settings)
    anchor = sim.spec.start_ms if anchor_ms is None else anchor_ms
    state = progress or ProduceProgress()
    state.total = len(sim.records)
    state.started = time.monotonic()
    halt = stop or threading.Event()
    lock = threading.Lock()

    def failed(exc: BaseException) -> None:
        with lock:
            state.errors += 1
            state.last_error = f"{exc.__class__.__name__}: {exc}"

    producer = KafkaProducer(linger_ms=5, acks="all", retries=5,
                             **kafka_client_config(settings.kafka))
    try:
        for index, record in enumerate(sim.records):
            if halt.is_set():
                break
            while state.allowed is not None and index >= state.allowed and not halt.is_set():
                halt.wait(0.05)
            if realtime:
                due = state.started + (record.send_ms - anchor) / 1000.0
            elif rate > 0:
                due = state.started + index / rate
            else:
                due = 0.0
            wait = due - time.monotonic()
            if wait > 0:
                # Sleep in slices so that a stop request is honoured promptly.
                halt.wait(min(wait, 1.0) if realtime else wait)
                while not halt.is_set() and (wait := due - time.monotonic()) > 0:
                    halt.wait(min(wait, 1.0))
                if halt.is_set():
                    break
            key = None if record.key is None else record.key.encode()
            producer.send(names[record.topic], key=key, value=record.value).add_errback(failed)
            state.sent += 1
            if on_sent is not None and (state.sent % 100 == 0 or (rate and rate < 200)):
                on_sent(state)
        producer.flush()
    finally:
        producer.close()
        state.finished = time.monotonic()
        state.done = True
    if on_sent is not None:
        on_sent(state)
    return state


def describe(sim: Simulation) -> str:
    """One paragraph about a simulation: who is in it and what noise it carries."""
    mix = {p: len(sim.customers_of(p)) for p in PERSONAS}
    spec = sim.spec
    c = sim.counts
    return (
        f"{spec.customers} customers ("
        + ", ".join(f"{mix[p]} {p}" for p in PERSONAS)
        + f"), {spec.days} days of event time from {format_ms(spec.start_ms)[:10]} to "
        f"{format_ms(spec.end_ms)[:10]}, seed {spec.seed}: {len(sim.records)} messages "
        f"({c.get(LATE, 0)} late, {c.get(DUPLICATE, 0)} duplicates, "
        f"{c.get(MALFORMED, 0)} malformed)"
    )
