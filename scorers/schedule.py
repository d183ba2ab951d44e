"""When to look at a customer again if nothing happens: due times and the due-time schedule.

A customer's score moves with time alone (decays, recency, tickets ageing past their SLA).
:func:`next_check_ms` bounds how fast it can move and returns the earliest event time at which
it could reach a level that matters (the alert threshold, the re-arm level, a band edge, the
sharp-drop floor) or jump (a product leaving the depth window, the revenue component starting).
Re-scoring at that time either shows the crossing or yields a later due time, so crossings
are found within one resolution step without scanning every customer.

:class:`DueSchedule` keeps, per partition, the event-time clock (the highest event time seen
less the allowed lateness) and a heap of (due time, key); the stream and the offline scorer
use it the same way, so both fire decay re-scores at the same event times.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from scorers.config import DAY_MS, ScoringConfig
from scorers.model import (
    BANDS,
    LN2,
    MIN_SPEND,
    SUPPORT_CSAT_MIN_WEIGHT,
    Evaluation,
    expected_decayed,
    open_ticket_load,
    overdue_from_open_load,
)
from scorers.state import CustomerState, decay_factor

MINUTE_MS = 60_000
# Re-check at least this often, so rates measured now are refreshed.
MAX_CHECK_INTERVAL_MS = 30 * DAY_MS
RESOLUTION_MS = MINUTE_MS
# Score levels are compared after rounding to 0.1, so keep a little margin below them.
LEVEL_MARGIN = 0.05


# A ramp is one part of the score's possible movement: at most ``rate`` points per ms while
# ``start <= t < end`` (event times in ms). Parts of the model that are flat now (a recency
# still in its grace period, a volume above its target, a ticket within its SLA) start
# moving at a known time at the earliest, so they count from then, not from now.
Ramp = tuple[float, float, float]
INF = math.inf


def _history_factor(cadence_ms: float, half_life_ms: float) -> float:
    """Bound on |d ln E / dt| * h / ln2 for the truncated expectation E(history >= cadence)."""
    g = 2.0 ** (-cadence_ms / half_life_ms)
    return float(1.0 + g / (1.0 - g))


def _volume_ramp(count: float, ref_ts: int, history_ms: float, per_30_days: float,
                 half_life_ms: float, share: float, at: int) -> Ramp:
    """The movement of ``share * 100 * min(1, decayed count / expected count)``.

    The ratio only falls in a silence, and while it is above 1 the part is flat. With
    ``g = 2^(-history/h)`` the expectation can grow at most as ``1 - g 2^(-dt/h)`` does, so
    the ratio stays at or above 1 for at least ``h log2(ratio (1 - g) + g)``.
    """
    g = 2.0 ** (-history_ms / half_life_ms)
    rate = share * 100 * LN2 / half_life_ms * (1.0 + g / (1.0 - g))
    expected = expected_decayed(per_30_days, half_life_ms, history_ms)
    ratio = count * decay_factor(at - ref_ts, half_life_ms) / expected
    start = float(at)
    if ratio > 1.0:
        # Less a relative hair for rounding, so the start is never past the true one.
        start += max(0.0, half_life_ms * math.log2(ratio * (1.0 - g) + g) * (1 - 1e-9) - 1)
    return rate, start, INF


def _recency_ramp(last_ts: int, grace_ms: float, zero_ms: float, share: float,
                  at: int) -> Ramp:
    """The movement of ``share * _recency``: flat within the grace period, then falling at
    most as fast as it does at the later of the grace period's end and ``at``."""
    grace_end = last_ts + grace_ms
    span = zero_ms - grace_ms
    rate = share * 100 / span * math.exp(-max(0.0, at - grace_end) / span)
    return rate, max(float(at), grace_end), INF


def _ticket_ramps(s: CustomerState, at: int, cfg: ScoringConfig, slope: float) -> list[Ramp]:
    """The open tickets' load growth times ``slope``: each grows at weight / SLA between its
    SLA and its cap (``max_overdue_factor`` SLAs later), and is flat otherwise."""
    c = cfg.support
    ramps: list[Ramp] = []
    for priority, opened in s.open_tickets.values():
        sla = c.sla_ms[priority]
        end = opened + sla * (1 + c.max_overdue_factor)
        if end > at:
            ramps.append((slope * c.priority_weight[priority] / sla,
                          max(float(at), opened + sla), end))
    return ramps


def _component_ramps(s: CustomerState, at: int, cfg: ScoringConfig,
                     open_load: float) -> dict[str, list[Ramp]]:
    """How fast each time-driven component can move (points per ms) from ``at`` on, for
    present data; ``open_load`` is the open tickets' load at ``at``."""
    ramps: dict[str, list[Ramp]] = {}
    p = cfg.purchase
    if s.last_purchase_ts is not None:
        cadence = 30 * DAY_MS / p.expected_per_30_days
        history = max(float(at - (s.first_purchase_ts or at)), cadence)
        ramps["purchase"] = [
            _volume_ramp(s.p_count, s.ref_ts, history, p.expected_per_30_days, p.half_life_ms,
                         p.frequency_share, at),
            _recency_ramp(s.last_purchase_ts, p.recency_grace_ms, p.recency_zero_ms,
                          p.recency_share, at),
        ]
    c = cfg.support
    if s.last_ticket_ts is not None or s.open_tickets:
        f = decay_factor(at - s.ref_ts, c.half_life_ms)
        history_load = (s.s_escalations * c.escalation_load + s.s_reopens * c.reopen_load
                        + s.s_late * c.late_resolution_load) * f
        # support <= 100 / (1 + load / softness), and the load never falls below the open
        # tickets' load of now, so its slope is at most the one there.
        slope = 100 / c.softness / (1 + open_load / c.softness) ** 2
        ramps["support"] = [(slope * history_load * LN2 / c.half_life_ms, float(at), INF),
                            *_ticket_ramps(s, at, cfg, slope)]
    e = cfg.engagement
    if s.last_touch_ts is not None:
        cadence = 30 * DAY_MS / e.target_per_30_days
        history = max(float(at - s.first_ts), cadence)
        shares = e.volume_share + e.recency_share + (e.sentiment_share if s.e_sent_w > 0 else 0)
        ramps["engagement"] = [
            _volume_ramp(s.e_touch, s.ref_ts, history, e.target_per_30_days, e.half_life_ms,
                         e.volume_share / shares, at),
            _recency_ramp(s.last_touch_ts, e.recency_grace_ms, e.recency_zero_ms,
                          e.recency_share / shares, at),
        ]
    r = cfg.revenue
    if s.first_purchase_ts is not None:
        # |d growth / dt| <= R * (ln2/hs + ln2/hl) * history factors; R kept generous (x2).
        short = max(0.0, s.rev_short) * decay_factor(at - s.ref_ts, r.short_half_life_ms)
        long = max(1e-9, s.rev_long) * decay_factor(at - s.ref_ts, r.long_half_life_ms)
        ratio = max(1.0, short / long * r.long_half_life_ms / r.short_half_life_ms)
        history = max(float(at - s.first_purchase_ts), r.min_history_ms, DAY_MS)
        spread = (LN2 / r.short_half_life_ms * _history_factor(history, r.short_half_life_ms)
                  + LN2 / r.long_half_life_ms * _history_factor(history, r.long_half_life_ms))
        # d score / d growth is 70 below steady spend and 30 / full_scale_growth above.
        slope = max(70.0, 30.0 / r.full_scale_growth)
        ramps["revenue"] = [(slope * 2 * ratio * spread, float(at), INF)]
    return ramps


def _cap_ramps(s: CustomerState, at: int, cfg: ScoringConfig, open_load: float) -> list[Ramp]:
    """How fast the overdue cap can move: ``100 / (1 + overdue / cap_load)``, with the open
    tickets' overdue load growing (never falling) and the abandoned tickets' fading."""
    c = cfg.support
    open_overdue = overdue_from_open_load(open_load, s, cfg)
    slope = 100 / c.overdue_cap_load / (1 + open_overdue / c.overdue_cap_load) ** 2
    abandoned = s.s_abandoned * decay_factor(at - s.ref_ts, c.half_life_ms)
    return [(slope * abandoned * LN2 / c.half_life_ms, float(at), INF),
            *_ticket_ramps(s, at, cfg, slope)]


def _rate_at(ramps: list[Ramp], t: float) -> float:
    return sum((rate for rate, start, end in ramps if start <= t < end), 0.0)


@dataclass(slots=True, init=False)
class Movement:
    """How far the score can move with time alone from ``at`` on: the composite's ramps, the
    overdue cap's (empty without tickets), and how far the cap is above the score now.

    The score is the lower of the two, and ``min`` moves no further than the further of its
    arguments; a cap above the score moves it only once it has come down that far. So the
    score has moved less than ``max(composite moved, cap moved - cap_gap)``.
    """

    at: int
    composite: list[Ramp]
    cap: list[Ramp]
    cap_gap: float

    # An explicit __init__: mypyc compiles it, not the one dataclass generates at import.
    def __init__(self, at: int, composite: list[Ramp], cap: list[Ramp],
                 cap_gap: float = 0.0) -> None:
        self.at = at
        self.composite = composite
        self.cap = cap
        self.cap_gap = cap_gap

    def time_to_move(self, distance: float) -> float:
        """The earliest time by which the score may have moved ``distance`` points (inf:
        never).

        Examples:

        >>> Movement(0, [(0.5, 0, INF)], []).time_to_move(3.0)  # 0.5 per ms from the start
        6.0
        >>> Movement(0, [(0.5, 4, INF)], [(1.0, 0, 2)]).time_to_move(3.0)  # the cap stops at 2
        10.0
        >>> Movement(0, [(0.01, 0, INF)], [(1.0, 0, INF)], cap_gap=5.0).time_to_move(3.0)
        8.0
        >>> Movement(0, [(1.0, 0, 2)], []).time_to_move(3.0)
        inf
        """
        return min(_first_reach(distance, self.at, self.composite),
                   _first_reach(distance + self.cap_gap, self.at, self.cap))


def _first_reach(distance: float, at: int, ramps: list[Ramp]) -> float:
    """The earliest time after ``at`` at which ``ramps`` may have added up to ``distance``."""
    edges = sorted({edge for _, start, end in ramps for edge in (start, end) if at < edge < INF})
    t = float(at)
    moved = 0.0
    for edge in (*edges, INF):
        rate = _rate_at(ramps, t)
        if rate > 0 and moved + rate * (edge - t) >= distance:
            return t + (distance - moved) / rate
        moved += rate * (edge - t) if edge < INF else 0.0
        t = edge
    return INF


def score_movement(s: CustomerState, evaluation: Evaluation, cfg: ScoringConfig) -> Movement:
    """How far the score can move with time alone from ``evaluation.as_of`` on.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, outputs = apply_event(None, purchase, cfg)
    >>> movement = score_movement(state, outputs.evaluation, cfg)
    >>> at = outputs.evaluation.as_of
    >>> # points per day, at most: flat at first (one order is above the expected rate, and
    >>> # recency is in its grace period), then the frequency, then the recency may fall
    >>> [round(_rate_at(movement.composite, at + days * DAY_MS) * DAY_MS, 3)
    ...  for days in (0, 20, 40)]
    [0.0, 2.536, 2.813]
    >>> movement.cap  # no ticket: no cap
    []
    """
    at = evaluation.as_of
    weights = cfg.weights_for(s.segment)
    present = [name for name, value in evaluation.components.items()
               if value is not None and weights[name] > 0]
    # Components may appear later (revenue), which only shrinks each weight's share: use the
    # share among the present ones, and schedule the appearance itself as a jump.
    weight_sum = sum(weights[name] for name in present) or 1.0
    open_load = open_ticket_load(s, at, cfg) if s.open_tickets else 0.0
    by_component = _component_ramps(s, at, cfg, open_load)
    # Support only drags (scorers.model.evaluate): its term is min(support, the others'
    # mean m), which moves no faster than |support'| + |m'|; so the others count at their
    # share of the others' weight, and support at its share of the whole.
    others_weight = weight_sum - weights["support"] if "support" in present else 0.0
    composite = [((weights[name] / (others_weight if others_weight > 0 and name != "support"
                                    else weight_sum)) * rate, start, end)
                 for name in present for rate, start, end in by_component.get(name, ())]
    c = cfg.support
    if "support" not in present or c.overdue_cap_load <= 0:
        return Movement(at, composite, [])
    # The cap now (100 while no ticket is overdue, where it starts from when one becomes so).
    overdue = (overdue_from_open_load(open_load, s, cfg)
               + s.s_abandoned * decay_factor(at - s.ref_ts, c.half_life_ms))
    ceiling = 100.0 / (1.0 + overdue / c.overdue_cap_load)
    return Movement(at, composite, _cap_ramps(s, at, cfg, open_load),
                    max(0.0, ceiling - evaluation.score))


def _levels(s: CustomerState, cfg: ScoringConfig, at: int) -> list[float]:
    """The scores at which a published score changes band or an alert can fire: the re-arm
    level only while an alert is open, the sharp-drop floor only while none is (a customer
    already below the threshold is not paged for a further fall)."""
    a = cfg.alerts
    levels = [floor for floor, _ in BANDS]
    levels += [a.threshold, a.critical_below]
    if s.below:
        levels.append(a.threshold + a.hysteresis)
    else:
        window = [point for point in s.drop_window if point[0] >= at - a.sharp_drop_window_ms]
        if window:
            levels.append(window[0][1] - a.sharp_drop_points)
    return levels


def _next_jump(s: CustomerState, at: int, cfg: ScoringConfig) -> float:
    """The next time a component changes by a step rather than continuously."""
    # A product counts while at - seen <= window: it leaves one millisecond after.
    jumps = [seen + cfg.depth.window_ms + 1 for seen in s.products.values()
             if seen + cfg.depth.window_ms + 1 > at]
    if s.first_purchase_ts is not None:
        appears = s.first_purchase_ts + cfg.revenue.min_history_ms
        if appears > at:
            jumps.append(appears)
    # Decayed sums that drop a part of the model once they fall below a floor: net long-window
    # spend under MIN_SPEND drops revenue, ticket CSAT weight at or under 1e-9 drops the CSAT
    # share of support (scorers.model). Each crosses its floor once, at ref + h log2(x/floor).
    fades = [(s.s_csat_n, SUPPORT_CSAT_MIN_WEIGHT, cfg.support.half_life_ms)]
    if s.first_purchase_ts is not None:
        fades.append((s.rev_long, MIN_SPEND, cfg.revenue.long_half_life_ms))
    for amount, floor, half_life in fades:
        if amount > floor:
            leaves = math.floor(s.ref_ts + half_life * math.log2(amount / floor)) + 1
            if leaves > at:
                jumps.append(leaves)
    return min(jumps, default=math.inf)


def next_check_ms(s: CustomerState, evaluation: Evaluation, cfg: ScoringConfig) -> int:
    """The event time at which this customer must be re-scored if no event arrives first.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, outputs = apply_event(None, purchase, cfg)
    >>> from scorers.timefmt import format_ms
    >>> round(outputs.evaluation.score, 1)  # 1.4 points below the band edge 80
    78.6
    >>> due = next_check_ms(state, outputs.evaluation, cfg)
    >>> format_ms(due), due == state.next_due, due % RESOLUTION_MS
    ('2026-11-23T05:22:00Z', True, 0)
    """
    at = evaluation.as_of
    distance = min(abs(evaluation.score - (level - LEVEL_MARGIN))
                   for level in _levels(s, cfg, at))
    step = score_movement(s, evaluation, cfg).time_to_move(distance) - at
    step = min(max(step, RESOLUTION_MS), MAX_CHECK_INTERVAL_MS)
    due = min(at + step, max(_next_jump(s, at, cfg), at + 1))
    return int(math.ceil(due / RESOLUTION_MS) * RESOLUTION_MS)


@dataclass
class DueSchedule:
    """Per-partition event-time clocks and due-time heaps.

    ``due`` holds each customer's current due time; the heaps may hold superseded entries,
    which are skipped when popped and compacted away when they outnumber the live ones, so
    memory stays proportional to the number of customers, not events.

    Examples:

    >>> schedule = DueSchedule(allowed_lateness_ms=60_000)
    >>> schedule.push(0, b"c-42", due_ms=1_000_000)
    >>> schedule.push(0, b"c-7", due_ms=2_000_000)
    >>> schedule.observe(0, event_ts=1_500_000)  # the clock trails event time by the lateness
    1440000
    >>> list(schedule.pop_due(0)), len(schedule)
    ([(1000000, b'c-42')], 1)
    """

    allowed_lateness_ms: int
    clocks: dict[int, int] = field(default_factory=dict)
    heaps: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    due: dict[int, dict[bytes, int]] = field(default_factory=dict)

    def observe(self, partition: int, event_ts: int) -> int:
        """Advance ``partition``'s clock with an event time; returns the clock.

        Examples:

        >>> schedule = DueSchedule(allowed_lateness_ms=60_000)
        >>> schedule.observe(0, 1_000_000), schedule.observe(0, 900_000)  # never goes back
        (940000, 940000)
        """
        candidate = event_ts - self.allowed_lateness_ms
        clock = max(self.clocks.get(partition, candidate), candidate)
        self.clocks[partition] = clock
        return clock

    def push(self, partition: int, key: bytes, due_ms: int | None) -> None:
        """Set ``key``'s due time (None: not scheduled).

        Examples:

        >>> schedule = DueSchedule(allowed_lateness_ms=0)
        >>> schedule.push(0, b"c-42", 5_000)
        >>> schedule.push(0, b"c-42", 9_000)  # replaces the earlier due time
        >>> schedule.due[0]
        {b'c-42': 9000}
        >>> schedule.push(0, b"c-42", None)
        >>> len(schedule)
        0
        """
        current = self.due.setdefault(partition, {})
        if due_ms is None:
            current.pop(key, None)
            return
        if current.get(key) == due_ms:
            return
        current[key] = due_ms
        heap = self.heaps.setdefault(partition, [])
        heapq.heappush(heap, (due_ms, key))
        if len(heap) > 2 * len(current) + 1024:
            self.heaps[partition] = [(due, k) for k, due in current.items()]
            heapq.heapify(self.heaps[partition])

    def pop_due(self, partition: int) -> Iterator[tuple[int, bytes]]:
        """Entries of ``partition`` due at or before its clock, earliest first.

        Examples:

        >>> schedule = DueSchedule(allowed_lateness_ms=0)
        >>> for key, due_ms in ((b"c-1", 3_000), (b"c-2", 1_000), (b"c-3", 8_000)):
        ...     schedule.push(0, key, due_ms)
        >>> schedule.push(0, b"c-1", 2_000)  # superseded entries are skipped
        >>> _ = schedule.observe(0, 5_000)
        >>> list(schedule.pop_due(0))
        [(1000, b'c-2'), (2000, b'c-1')]
        >>> list(schedule.pop_due(0))  # popped entries are gone
        []
        """
        heap = self.heaps.get(partition)
        clock = self.clocks.get(partition)
        if not heap or clock is None:
            return
        current = self.due.get(partition, {})
        while heap and heap[0][0] <= clock:
            due_ms, key = heapq.heappop(heap)
            if current.get(key) == due_ms:
                del current[key]
                yield due_ms, key

    def drop(self, partitions: set[int] | None = None) -> None:
        """Forget partitions (all when None), e.g. when they are revoked.

        Examples:

        >>> schedule = DueSchedule(allowed_lateness_ms=0)
        >>> schedule.push(0, b"c-42", 1_000)
        >>> schedule.push(1, b"c-7", 1_000)
        >>> schedule.drop({0})
        >>> len(schedule), sorted(schedule.due)
        (1, [1])
        """
        for partition in list(self.clocks | self.heaps) if partitions is None else partitions:
            self.heaps.pop(partition, None)
            self.clocks.pop(partition, None)
            self.due.pop(partition, None)

    def __len__(self) -> int:
        return sum(len(current) for current in self.due.values())
