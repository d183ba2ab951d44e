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
from scorers.model import BANDS, LN2, MIN_SPEND, SUPPORT_CSAT_MIN_WEIGHT, Evaluation
from scorers.state import CustomerState, decay_factor

MINUTE_MS = 60_000
# Re-check at least this often, so rates measured now are refreshed.
MAX_CHECK_INTERVAL_MS = 30 * DAY_MS
RESOLUTION_MS = MINUTE_MS
# Score levels are compared after rounding to 0.1, so keep a little margin below them.
LEVEL_MARGIN = 0.05


def _history_factor(cadence_ms: float, half_life_ms: float) -> float:
    """Bound on |d ln E / dt| * h / ln2 for the truncated expectation E(history >= cadence)."""
    g = 2.0 ** (-cadence_ms / half_life_ms)
    return float(1.0 + g / (1.0 - g))


def _ticket_ageing(s: CustomerState, at: int, cfg: ScoringConfig) -> float:
    """Upper bound of d(open ticket load)/dt (per ms): the tickets still growing."""
    c = cfg.support
    return sum(
        c.priority_weight[priority] / c.sla_ms[priority]
        for priority, opened in s.open_tickets.values()
        if at - opened < c.sla_ms[priority] * (1 + c.max_overdue_factor)
    )


def _component_rates(s: CustomerState, at: int, cfg: ScoringConfig,
                     ageing: float) -> dict[str, float]:
    """Upper bounds of |d component / dt| (points per ms) from ``at`` on, for present data;
    ``ageing`` is :func:`_ticket_ageing` at ``at``."""
    rates: dict[str, float] = {}
    p = cfg.purchase
    if s.last_purchase_ts is not None:
        cadence = 30 * DAY_MS / p.expected_per_30_days
        rates["purchase"] = (
            p.frequency_share * 100 * LN2 / p.half_life_ms
            * _history_factor(cadence, p.half_life_ms)
            + p.recency_share * 100 / (p.recency_zero_ms - p.recency_grace_ms)
        )
    c = cfg.support
    f = decay_factor(at - s.ref_ts, c.half_life_ms)
    history_load = (s.s_escalations * c.escalation_load + s.s_reopens * c.reopen_load
                    + s.s_late * c.late_resolution_load) * f
    rates["support"] = 100 / c.softness * (ageing + history_load * LN2 / c.half_life_ms)
    e = cfg.engagement
    if s.last_touch_ts is not None:
        cadence = 30 * DAY_MS / e.target_per_30_days
        rest = e.volume_share + e.recency_share
        rates["engagement"] = (
            e.volume_share / rest * 100 * LN2 / e.half_life_ms
            * _history_factor(cadence, e.half_life_ms)
            + e.recency_share / rest * 100 / (e.recency_zero_ms - e.recency_grace_ms)
        )
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
        rates["revenue"] = slope * 2 * ratio * spread
    return rates


def score_rate_bound(s: CustomerState, evaluation: Evaluation, cfg: ScoringConfig) -> float:
    """An upper bound of |d score / dt| in points per ms, valid from ``evaluation.as_of`` on.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, outputs = apply_event(None, purchase, cfg)
    >>> bound = score_rate_bound(state, outputs.evaluation, cfg)
    >>> round(bound * DAY_MS, 3)  # points per day, at most
    2.813
    """
    weights = cfg.weights_for(s.segment)
    present = {name for name, value in evaluation.components.items()
               if value is not None and weights[name] > 0}
    # Components may appear later (revenue), which only shrinks each weight's share: use the
    # share among the present ones, and schedule the appearance itself as a jump.
    weight_sum = sum(weights[name] for name in present) or 1.0
    ageing = _ticket_ageing(s, evaluation.as_of, cfg)
    rates = _component_rates(s, evaluation.as_of, cfg, ageing)
    bound = sum(weights[name] / weight_sum * rates.get(name, 0.0) for name in present)
    c = cfg.support
    if "support" in present and c.overdue_cap_load > 0:
        # The score is the lower of the composite and the overdue cap, so it moves at most as
        # fast as the faster of the two; |d cap / d overdue| is at most 100 / overdue_cap_load.
        # The open tickets' part grows as their load does; the abandoned tickets' part fades
        # with the support half-life.
        abandoned = s.s_abandoned * decay_factor(evaluation.as_of - s.ref_ts, c.half_life_ms)
        cap_rate = 100 / c.overdue_cap_load * (ageing + abandoned * LN2 / c.half_life_ms)
        bound = max(bound, cap_rate)
    return bound


def _levels(s: CustomerState, cfg: ScoringConfig, at: int) -> list[float]:
    a = cfg.alerts
    levels = [floor for floor, _ in BANDS]
    levels += [a.threshold, a.threshold + a.hysteresis, a.critical_below]
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
    ('2026-11-20T21:46:00Z', True, 0)
    """
    at = evaluation.as_of
    distance = min(abs(evaluation.score - (level - LEVEL_MARGIN))
                   for level in _levels(s, cfg, at))
    rate = score_rate_bound(s, evaluation, cfg)
    step = distance / rate if rate > 0 else math.inf
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
