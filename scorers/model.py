"""The relationship-health model: six components, the composite, confidence and drivers.

:func:`evaluate` values a :class:`CustomerState` at an event time ``at_ms`` (>= the state's
clock) without changing it. Each component returns its 0-100 score and the parts that cost it
points, each with a sentence a customer-success manager can act on; the composite is the
weighted mean of the components that have data. Thin evidence lowers the confidence, never the
score (paging waits for evidence instead: ``alerts.min_evidence``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scorers.config import COMPONENTS, DAY_MS, HOUR_MS, PRIORITIES, ScoringConfig
from scorers.state import CustomerState, decay_factor

LN2 = math.log(2.0)
MIN_SPEND = 0.01  # decayed net spend below a cent counts as none
SUPPORT_CSAT_MIN_WEIGHT = 1e-9  # ticket CSAT counts while its decayed weight is above this
BANDS: tuple[tuple[float, str], ...] = ((80.0, "excellent"), (60.0, "good"), (40.0, "fair"))
# Every band, best first: the one list the metrics, the demo and the CLI name bands by.
BAND_NAMES: tuple[str, ...] = (*(name for _, name in BANDS), "poor")


@dataclass(slots=True, init=False)
class Part:
    """One reason a component lost points: ``loss`` points of 100, described by ``detail``.

    Examples:

    >>> part = Part(40.0, "no purchase in {} days", (75,))
    >>> part.loss, part.detail
    (40.0, 'no purchase in 75 days')
    """


    loss: float
    template: str
    args: tuple[Any, ...]
    # the formatted sentence, once asked for (a driver and a change may both want it)
    text: str | None = field(default=None, compare=False, repr=False)

    # An explicit __init__: mypyc compiles it, not the one dataclass generates at import.
    def __init__(self, loss: float, template: str, args: tuple[Any, ...] = ()) -> None:
        self.loss = loss
        self.template = template
        self.args = args
        self.text = None

    @property
    def detail(self) -> str:
        """The sentence, formatted only for the parts that become drivers.

        Examples:

        >>> Part(12.0, "ticket CSAT {:.1f}/5", (2.25,)).detail
        'ticket CSAT 2.2/5'
        >>> Part(9.0, "spend steady, not growing, against its long-run rate").detail
        'spend steady, not growing, against its long-run rate'
        """
        if self.text is None:
            self.text = self.template.format(*self.args) if self.args else self.template
        return self.text


class _Lazy:
    """A value whose text is computed only when formatted."""

    __slots__ = ("_text",)

    def __init__(self, text: Callable[[], str]) -> None:
        self._text = text

    def __format__(self, spec: str) -> str:
        return self._text()


@dataclass(slots=True, init=False)
class ComponentResult:
    """One component's 0-100 ``score``, the :class:`Part` s that cost it points, the event
    time of its latest data (None when it has none, e.g. support without tickets), and the
    ceiling it puts on the whole score (``cap``; support's, while tickets are past their SLA).

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, products={"crm": t0})
    >>> result = depth_component(state, t0, cfg)
    >>> result.score, result.last_data_ts == t0, [part.loss for part in result.parts]
    (25.0, True, [75.0])
    """

    score: float
    parts: tuple[Part, ...]
    last_data_ts: int | None
    cap: Part | None  # ``loss``: the ceiling's distance from 100; detail: why

    # An explicit __init__: mypyc compiles it, not the one dataclass generates at import.
    def __init__(self, score: float, parts: tuple[Part, ...], last_data_ts: int | None,
                 cap: Part | None = None) -> None:
        self.score = score
        self.parts = parts
        self.last_data_ts = last_data_ts
        self.cap = cap


@dataclass(slots=True, init=False)
class Driver:
    """A component that cost the composite ``impact`` points, with the sentence saying why.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, products={"crm": t0})
    >>> driver = evaluate(state, t0, cfg).drivers[0]
    >>> driver.component, driver.score, driver.impact
    ('depth', 25.0, 75.0)
    >>> driver.detail
    'uses 1 of 4 target products or services in the last 90 days'
    """

    component: str
    score: float
    impact: float
    detail: str

    # An explicit __init__: mypyc compiles it, not the one dataclass generates at import.
    def __init__(self, component: str, score: float, impact: float, detail: str) -> None:
        self.component = component
        self.score = score
        self.impact = impact
        self.detail = detail


@dataclass(slots=True, init=False)
class Loss:
    """The ``points`` of the composite a component costs and why: ``detail``, the sentence of
    the worst part of its ``result`` (of its cap when ``capped``), found and formatted only on
    use; empty when nothing in it lost points.

    Examples:

    >>> result = ComponentResult(41.0, (Part(40.0, "{} urgent tickets open past SLA", (2,)),),
    ...                          last_data_ts=None)
    >>> loss = Loss(16.2, result, capped=False)
    >>> loss.points, loss.detail
    (16.2, '2 urgent tickets open past SLA')
    >>> Loss(0.0, ComponentResult(100.0, (), last_data_ts=None), capped=False).detail
    ''
    """

    points: float
    result: ComponentResult
    capped: bool

    # An explicit __init__: mypyc compiles it, not the one dataclass generates at import.
    def __init__(self, points: float, result: ComponentResult, capped: bool) -> None:
        self.points = points
        self.result = result
        self.capped = capped

    @property
    def detail(self) -> str:
        if self.capped and self.result.cap is not None:
            return self.result.cap.detail
        worst = _worst_part(self.result)
        return "" if worst is None else worst.detail


class Evaluation:
    """The model's verdict on one customer at ``as_of``.

    ``drivers`` are worked out on first use: most decay re-scores publish nothing, and so
    never need them.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, outputs = apply_event(None, purchase, cfg)
    >>> evaluation = outputs.evaluation
    >>> round(evaluation.score, 1), evaluation.band, evaluation.confidence
    (78.6, 'good', 0.07)
    >>> evaluation.components["depth"], evaluation.components["engagement"]  # None: no data
    (25.0, None)
    >>> [driver.detail for driver in evaluation.drivers]
    ['uses 1 of 4 target products or services in the last 90 days']
    """

    __slots__ = (
        "_attribution",
        "_drivers",
        "_explain",
        "_losses",
        "as_of",
        "components",
        "confidence",
        "raw_score",
        "score",
    )

    def __init__(self, as_of: int, score: float, raw_score: float | None,
                 components: dict[str, float | None], confidence: float,
                 drivers: tuple[Driver, ...] | None = None,
                 explain: Callable[[], tuple[Driver, ...]] | None = None,
                 attribute: Callable[[], dict[str, Loss]] | None = None) -> None:
        self.as_of = as_of
        self.score = score
        self.raw_score = raw_score
        self.components = components
        self.confidence = confidence
        self._drivers = drivers
        self._explain = explain
        self._losses: dict[str, Loss] | None = None
        self._attribution = attribute

    @property
    def drivers(self) -> tuple[Driver, ...]:
        """The components that cost the most points, worst first, in plain words.

        Examples:

        >>> from scorers.config import DEFAULT_CONFIG as cfg
        >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
        >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, evidence=4,
        ...                       open_tickets={"t-9": [3, t0 - 16 * HOUR_MS]})
        >>> for driver in evaluate(state, t0, cfg).drivers:
        ...     print(driver.component, driver.impact, driver.detail)
        support 66.7 1 urgent ticket open past SLA (oldest 16 h)
        """
        if self._drivers is None:
            self._drivers = () if self._explain is None else self._explain()
            self._explain = None
        return self._drivers

    @property
    def losses(self) -> dict[str, Loss]:
        """What each component costs the composite, in points of 100, with the sentence of
        its worst part: ``score == 100 - sum(points)`` whenever a component has data (a cap
        is charged to the component that sets it, support's drag to support).

        Examples:

        >>> from scorers.config import DEFAULT_CONFIG as cfg
        >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
        >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, evidence=4,
        ...                       products={"crm": t0},
        ...                       open_tickets={"t-9": [3, t0 - 16 * HOUR_MS]})
        >>> evaluation = evaluate(state, t0, cfg)
        >>> for name, loss in evaluation.losses.items():
        ...     print(name, round(loss.points, 1), loss.detail)
        depth 25.0 uses 1 of 4 target products or services in the last 90 days
        support 50.0 1 urgent ticket open past SLA (oldest 16 h)
        >>> round(100 - sum(loss.points for loss in evaluation.losses.values()), 6)
        25.0
        >>> round(evaluation.score, 6)
        25.0
        """
        if self._losses is None:
            self._losses = {} if self._attribution is None else self._attribution()
            self._attribution = None
        return self._losses

    @property
    def band(self) -> str:
        """:func:`band_of` the unrounded ``score`` (messages band the rounded one).

        Examples:

        >>> evaluation = Evaluation(as_of=0, score=59.96, raw_score=59.96, components={},
        ...                         confidence=1.0)
        >>> evaluation.band, band_of(round(evaluation.score, 1))
        ('fair', 'good')
        """
        return band_of(self.score)

    def _key(self) -> tuple[Any, ...]:
        return (self.as_of, self.score, self.raw_score, self.components, self.confidence,
                self.drivers)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Evaluation) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable cache inside: not hashable

    def __repr__(self) -> str:
        return (f"Evaluation(as_of={self.as_of}, score={self.score!r}, "
                f"components={self.components!r}, confidence={self.confidence})")


def band_of(score: float) -> str:
    """The seed-001 band of a score: excellent >= 80, good >= 60, fair >= 40, else poor.

    Examples:

    >>> [band_of(score) for score in (92.0, 80.0, 79.9, 60.0, 45.5, 12.0)]
    ['excellent', 'excellent', 'good', 'good', 'fair', 'poor']
    """
    for floor, name in BANDS:
        if score >= floor:
            return name
    return "poor"


def _clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return low if value < low else high if value > high else value


def _recency(since_ms: float, grace_ms: float, zero_ms: float) -> float:
    """100 within the grace period, then falling, never flat again: at first as fast as a
    straight line to 0 at ``zero_ms`` would, then exponentially (it is 37 there and keeps
    halving), so that long-silent customers stay ranked by how long they have been silent."""
    if since_ms <= grace_ms:
        return 100.0
    return 100.0 * math.exp(-(since_ms - grace_ms) / (zero_ms - grace_ms))


def expected_decayed(per_30_days: float, half_life_ms: float, history_ms: float) -> float:
    """The decayed sum a customer at the target rate would have after ``history_ms``."""
    rate = per_30_days / (30 * DAY_MS)
    return rate * half_life_ms / LN2 * -math.expm1(-LN2 * history_ms / half_life_ms)


def _days(ms: float) -> int:
    return int(ms // DAY_MS)


def purchase_component(s: CustomerState, at: int, cfg: ScoringConfig) -> ComponentResult | None:
    """Purchases: frequency against the expected rate, recency and the share returned; None
    before the first purchase.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, p_count=1.0, p_value=120.0,
    ...                       first_purchase_ts=t0, last_purchase_ts=t0)
    >>> purchase_component(state, t0, cfg).score
    100.0
    >>> later = purchase_component(state, t0 + 60 * DAY_MS, cfg)
    >>> round(later.score, 1), [part.detail for part in later.parts]
    (50.3, ['no purchase in 60 days', 'returns are 0% of order value'])
    >>> purchase_component(CustomerState("c-7", first_ts=t0, ref_ts=t0), t0, cfg) is None
    True
    """
    if s.last_purchase_ts is None:
        return None
    c = cfg.purchase
    f = decay_factor(at - s.ref_ts, c.half_life_ms)
    cadence_ms = 30 * DAY_MS / c.expected_per_30_days
    history = max(float(at - (s.first_purchase_ts or at)), cadence_ms)
    expected = expected_decayed(c.expected_per_30_days, c.half_life_ms, history)
    frequency = 100.0 * min(1.0, s.p_count * f / expected)
    since = at - s.last_purchase_ts
    recency = _recency(since, c.recency_grace_ms, c.recency_zero_ms)
    share = s.p_returned / s.p_value if s.p_value > 0 else float(s.p_returned > 0)
    returns = 100.0 * (1.0 - min(1.0, share / c.return_share_zero))
    score = c.frequency_share * frequency + c.recency_share * recency + c.returns_share * returns
    per_month = s.p_count * f / (c.half_life_ms / LN2) * 30 * DAY_MS
    activity_loss = c.frequency_share * (100 - frequency) + c.recency_share * (100 - recency)
    if since > c.recency_grace_ms:
        activity = Part(activity_loss, "no purchase in {} days", (_days(since),))
    else:
        activity = Part(activity_loss, "buying {:.1f} times a month against {:g} expected",
                        (per_month, c.expected_per_30_days))
    parts = (
        activity,
        Part(c.returns_share * (100 - returns), "returns are {:.0%} of order value", (share,)),
    )
    return ComponentResult(_clamp(score), parts, s.last_purchase_ts)


def depth_component(s: CustomerState, at: int, cfg: ScoringConfig) -> ComponentResult | None:
    """Depth: products or services seen within the window, against the target breadth; None
    before any product is seen.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0,
    ...                       products={"crm": t0, "billing": t0 - 100 * DAY_MS})
    >>> result = depth_component(state, t0, cfg)  # billing is outside the 90-day window
    >>> result.score, result.parts[0].detail
    (25.0, 'uses 1 of 4 target products or services in the last 90 days')
    """
    if not s.products:
        return None
    c = cfg.depth
    active = sum(1 for seen in s.products.values() if at - seen <= c.window_ms)
    score = 100.0 * min(1.0, active / c.target_products)
    part = Part(100 - score, "uses {} of {} target products or services in the last {} days",
                (active, c.target_products, _days(c.window_ms)))
    return ComponentResult(score, (part,), max(s.products.values()))


def ticket_load(priority: int, opened: int, at: int, cfg: ScoringConfig) -> float:
    """One open ticket's load at ``at``: its priority weight, growing once past its SLA.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> urgent = PRIORITIES.index("urgent")  # weight 4, SLA 8 h
    >>> ticket_load(urgent, opened=t0, at=t0 + 1 * HOUR_MS, cfg=cfg)  # within its SLA
    4.0
    >>> ticket_load(urgent, opened=t0, at=t0 + 16 * HOUR_MS, cfg=cfg)  # one SLA late: doubled
    8.0
    >>> ticket_load(urgent, opened=t0, at=t0 + 100 * HOUR_MS, cfg=cfg)  # capped at 1 + 3 times
    16.0
    """
    c = cfg.support
    sla = c.sla_ms[priority]
    overdue = min(c.max_overdue_factor, max(0.0, (at - opened - sla) / sla))
    return c.priority_weight[priority] * (1.0 + overdue)


def open_ticket_load(s: CustomerState, at: int, cfg: ScoringConfig) -> float:
    """The weighted load of all open tickets at ``at``.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, open_tickets={
    ...     "t-1": [PRIORITIES.index("normal"), t0],
    ...     "t-2": [PRIORITIES.index("urgent"), t0 - 16 * HOUR_MS]})
    >>> open_ticket_load(state, t0, cfg)  # 1 (normal, fresh) + 8 (urgent, 8 h past SLA)
    9.0
    """
    return sum(ticket_load(p, opened, at, cfg) for p, opened in s.open_tickets.values())


def overdue_load(s: CustomerState, at: int, cfg: ScoringConfig) -> float:
    """How far the open tickets are past their SLAs at ``at``: each ticket's priority weight
    times its lateness in SLAs (at most ``max_overdue_factor``). It grows continuously from 0
    at the SLA; with the fading lateness of tickets closed unresolved (``s_abandoned``) it is
    what caps the score (``support.overdue_cap_load``).

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, open_tickets={
    ...     "t-1": [PRIORITIES.index("normal"), t0],
    ...     "t-2": [PRIORITIES.index("urgent"), t0 - 24 * HOUR_MS]})
    >>> overdue_load(state, t0, cfg)  # the normal one is within SLA; urgent: 4 x 2 SLAs late
    8.0
    """
    return overdue_from_open_load(open_ticket_load(s, at, cfg), s, cfg)


def overdue_from_open_load(open_load: float, s: CustomerState, cfg: ScoringConfig) -> float:
    """:func:`overdue_load` from the open tickets' load already computed: each ticket's load
    is its weight times (1 + lateness in SLAs)."""
    weights = cfg.support.priority_weight
    return max(0.0, open_load - sum(weights[p] for p, _ in s.open_tickets.values()))


def score_cap(overdue: float, cfg: ScoringConfig) -> float | None:
    """The ceiling that tickets this far past their SLAs put on the score (None: no cap).

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg  # overdue_cap_load 16
    >>> round(score_cap(8.0, cfg), 1), round(score_cap(24.0, cfg), 1), score_cap(0.0, cfg)
    (66.7, 40.0, None)
    """
    cap_load = cfg.support.overdue_cap_load
    if overdue <= 0 or cap_load <= 0:
        return None
    return 100.0 / (1.0 + overdue / cap_load)


def _open_ticket_detail(tickets: tuple[tuple[int, int], ...], at: int,
                        cfg: ScoringConfig) -> str:
    overdue = [
        (priority, at - opened)
        for priority, opened in tickets
        if at - opened > cfg.support.sla_ms[priority]
    ]
    if overdue:
        worst = max(priority for priority, _ in overdue)
        worst_ages = [age for priority, age in overdue if priority == worst]
        count = len(worst_ages)
        noun = "ticket" if count == 1 else "tickets"
        return (
            f"{count} {PRIORITIES[worst]} {noun} open past SLA "
            f"(oldest {max(worst_ages) // HOUR_MS} h)"
        )
    count = len(tickets)
    worst = max(priority for priority, _ in tickets)
    return f"{count} ticket{'s' if count != 1 else ''} open (highest priority {PRIORITIES[worst]})"


def _cap_detail(tickets: tuple[tuple[int, int], ...], at: int, cfg: ScoringConfig,
                ceiling: float) -> str:
    overdue = sum(1 for priority, opened in tickets if at - opened > cfg.support.sla_ms[priority])
    until = "until it is answered" if overdue == 1 else "until they are answered"
    return (f"{_open_ticket_detail(tickets, at, cfg)}; {until}, the score is held at or below "
            f"{ceiling:.0f}")


def support_component(s: CustomerState, at: int, cfg: ScoringConfig) -> ComponentResult | None:
    """Support: open tickets by priority and age past SLA, recent escalations, reopens, late
    resolutions and ticket CSAT; None (no data, left out) until the customer's first ticket:
    no ticket is not evidence of perfect support, and a ticket feed that stops must not make
    everyone's support perfect.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> support_component(CustomerState("c-42", first_ts=t0, ref_ts=t0), t0, cfg) is None
    True
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, open_tickets={
    ...     "t-1": [PRIORITIES.index("normal"), t0],
    ...     "t-2": [PRIORITIES.index("urgent"), t0 - 16 * HOUR_MS]})
    >>> result = support_component(state, t0, cfg)  # 100 / (1 + load 9 / softness 4)
    >>> round(result.score, 1), result.parts[0].detail
    (30.8, '1 urgent ticket open past SLA (oldest 16 h)')
    """
    if s.last_ticket_ts is None and not s.open_tickets:
        return None
    c = cfg.support
    f = decay_factor(at - s.ref_ts, c.half_life_ms)
    open_load = open_ticket_load(s, at, cfg)
    # The sentence may be written after the state has moved on: keep the tickets as they are.
    tickets = tuple((p, opened) for p, opened in s.open_tickets.values()) if open_load else ()
    loads = (
        (open_load, "{}", (_Lazy(lambda: _open_ticket_detail(tickets, at, cfg)),)),
        (s.s_escalations * f * c.escalation_load, "{:.1f} recent escalations (decayed)",
         (s.s_escalations * f,)),
        (s.s_reopens * f * c.reopen_load, "{:.1f} recently reopened tickets",
         (s.s_reopens * f,)),
        (s.s_late * f * c.late_resolution_load, "{:.1f} tickets recently resolved past SLA",
         (s.s_late * f,)),
    )
    total = sum(load for load, _, _ in loads)
    base = 100.0 / (1.0 + total / c.softness)
    csat_n = s.s_csat_n * f
    parts: list[Part] = []
    if csat_n > SUPPORT_CSAT_MIN_WEIGHT:
        csat_avg = s.s_csat_sum / s.s_csat_n
        csat_score = (csat_avg - 1.0) * 25.0
        # CSAT can only take points away: happy answers on resolved tickets must not offset
        # tickets left open (a customer with nine urgent tickets past SLA is not at 24).
        csat_loss = base / 100.0 * c.csat_share * (100 - csat_score)
        score = base - csat_loss
        parts.append(Part(csat_loss, "ticket CSAT {:.1f}/5", (csat_avg,)))
    else:
        score = base
    if total > 0:
        parts.extend(Part((100 - base) * load / total, template, args)
                     for load, template, args in loads if load > 0)
    # An open ticket is a present fact, not an old observation: support is fresh while one is.
    fresh_at = at if s.open_tickets else s.last_ticket_ts
    open_overdue = overdue_from_open_load(open_load, s, cfg) if open_load else 0.0
    ceiling = score_cap(open_overdue + s.s_abandoned * f, cfg)
    cap: Part | None = None
    if ceiling is not None and open_overdue > 0:
        cap = Part(100.0 - ceiling, "{}",
                   (_Lazy(lambda: _cap_detail(tickets, at, cfg, ceiling)),))
    elif ceiling is not None:
        cap = Part(100.0 - ceiling, "tickets closed unresolved after running past their SLA "
                   "hold the score at or below {:.0f} while that fades", (ceiling,))
    return ComponentResult(_clamp(score), tuple(parts), fresh_at, cap)


def engagement_component(s: CustomerState, at: int, cfg: ScoringConfig) -> ComponentResult | None:
    """Engagement: channel-weighted touches against the target, recency and sentiment; None
    before the first interaction.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> call = validate_event("interaction", {"event_id": "e1", "customer_id": "c-42",
    ...     "ts": t0, "channel": "call", "sentiment": -0.5}, reference_ms=None)
    >>> state, _ = apply_event(None, call, cfg)
    >>> result = engagement_component(state, t0, cfg)
    >>> result.score, [part.detail for part in result.parts]
    (85.0, ['contact volume at 100% of target', 'negative sentiment in conversations (-0.50)'])
    >>> result = engagement_component(state, t0 + 30 * DAY_MS, cfg)
    >>> round(result.score, 1), result.parts[0].detail
    (34.6, 'no contact in 30 days')
    """
    if s.last_touch_ts is None:
        return None
    c = cfg.engagement
    f = decay_factor(at - s.ref_ts, c.half_life_ms)
    cadence_ms = 30 * DAY_MS / c.target_per_30_days
    history = max(float(at - s.first_ts), cadence_ms)
    expected = expected_decayed(c.target_per_30_days, c.half_life_ms, history)
    volume = 100.0 * min(1.0, s.e_touch * f / expected)
    since = at - s.last_touch_ts
    recency = _recency(since, c.recency_grace_ms, c.recency_zero_ms)
    activity: tuple[str, tuple[Any, ...]] = (
        ("no contact in {} days", (_days(since),)) if since > c.recency_grace_ms
        else ("contact volume at {:.0f}% of target", (volume,))
    )
    share_sum = c.volume_share + c.recency_share
    weighted = c.volume_share * volume + c.recency_share * recency
    activity_loss = c.volume_share * (100 - volume) + c.recency_share * (100 - recency)
    mood: Part | None = None
    if s.e_sent_w > 0:  # the stored weight: evaluating later must not drop the term
        mean = s.e_sent_sum / s.e_sent_w
        sentiment = 50.0 * (1.0 + mean)
        share_sum += c.sentiment_share
        weighted += c.sentiment_share * sentiment
        template = ("negative sentiment in conversations ({:+.2f})" if mean < 0
                    else "sentiment in conversations averages {:+.2f} (of -1..+1)")
        mood = Part(c.sentiment_share * (100 - sentiment) / share_sum, template, (mean,))
    score = weighted / share_sum
    first = Part(activity_loss / share_sum, *activity)
    parts_out = (first,) if mood is None else (first, mood)
    return ComponentResult(_clamp(score), parts_out, s.last_touch_ts)


def satisfaction_component(
    s: CustomerState, at: int, cfg: ScoringConfig
) -> ComponentResult | None:
    """Satisfaction: the (decayed) mean NPS and CSAT answers; None before any answer.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, nps_sum=6.0, nps_n=1.0,
    ...                       last_survey_ts=t0)
    >>> result = satisfaction_component(state, t0, cfg)
    >>> result.score, result.parts[0].detail
    (60.0, 'NPS answers average 6.0/10 (detractor)')
    """
    c = cfg.satisfaction
    has_nps = s.nps_n > 0
    has_csat = s.csat_n > 0
    if not (has_nps or has_csat):
        return None
    parts: list[Part] = []
    weighted = 0.0
    total_share = 0.0
    if has_nps:
        nps = s.nps_sum / s.nps_n
        label = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
        weighted += c.nps_share * nps * 10.0
        total_share += c.nps_share
        parts.append(Part(c.nps_share * (100 - nps * 10.0),
                          "NPS answers average {:.1f}/10 ({})", (nps, label)))
    if has_csat:
        csat = s.csat_sum / s.csat_n
        weighted += c.csat_share * (csat - 1.0) * 25.0
        total_share += c.csat_share
        parts.append(Part(c.csat_share * (100 - (csat - 1.0) * 25.0),
                          "CSAT answers average {:.1f}/5", (csat,)))
    scale = 1.0 / total_share
    return ComponentResult(
        _clamp(weighted * scale),
        tuple(Part(p.loss * scale, p.template, p.args) for p in parts),
        s.last_survey_ts,
    )


def revenue_component(s: CustomerState, at: int, cfg: ScoringConfig) -> ComponentResult | None:
    """Revenue: the short-window spend rate against the long-window one (steady scores 70);
    None until there is ``min_history_days`` of purchase history and net spend.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> def order(day, amount):
    ...     return validate_event("purchase", {"event_id": f"o{day}", "customer_id": "c-42",
    ...         "ts": t0 + day * DAY_MS, "order_id": f"o{day}", "amount": amount,
    ...         "product_id": "crm"}, reference_ms=None)
    >>> state, _ = apply_event(None, order(0, 100.0), cfg)
    >>> revenue_component(state, t0 + 30 * DAY_MS, cfg) is None  # under 45 days of history
    True
    >>> state, _ = apply_event(state, order(60, 300.0), cfg)
    >>> result = revenue_component(state, state.ref_ts, cfg)
    >>> round(result.score, 1), result.parts[0].detail
    (94.8, 'spend up 41% against its long-run rate')
    """
    if s.first_purchase_ts is None:
        return None
    c = cfg.revenue
    history = at - s.first_purchase_ts
    if history < c.min_history_ms or history <= 0:
        return None
    short = s.rev_short * decay_factor(at - s.ref_ts, c.short_half_life_ms)
    long = s.rev_long * decay_factor(at - s.ref_ts, c.long_half_life_ms)
    short_rate = max(0.0, short) * LN2 / (c.short_half_life_ms * -math.expm1(
        -LN2 * history / c.short_half_life_ms))
    long_rate = max(0.0, long) * LN2 / (c.long_half_life_ms * -math.expm1(
        -LN2 * history / c.long_half_life_ms))
    if long < MIN_SPEND or long_rate <= 0:
        return None  # no net spend (sub-cent remainders are float noise, not spend)
    growth = short_rate / long_rate - 1.0
    # Steady spend is healthy (70); growth earns the rest up to full_scale_growth, and decline
    # takes it away in proportion, down to 0 when spending has stopped (growth -100%): no
    # floor before that, where customers in steep decline would tie and stop being ranked.
    score = 70.0 + (30.0 * min(1.0, growth / c.full_scale_growth) if growth >= 0
                    else 70.0 * max(-1.0, growth))
    if abs(growth) < 0.05:
        part = Part(100 - score, "spend steady, not growing, against its long-run rate")
    else:
        part = Part(100 - score, "spend {} {:.0%} against its long-run rate",
                    ("down" if growth < 0 else "up", abs(growth)))
    return ComponentResult(_clamp(score), (part,), s.last_purchase_ts)


_COMPONENT_FUNCTIONS = {
    "purchase": purchase_component,
    "depth": depth_component,
    "support": support_component,
    "engagement": engagement_component,
    "satisfaction": satisfaction_component,
    "revenue": revenue_component,
}


def evaluate(s: CustomerState, at: int, cfg: ScoringConfig) -> Evaluation:
    """Value ``s`` at event time ``at`` (clamped to the state's clock); no side effects.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> from scorers.scorer import apply_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, _ = apply_event(None, purchase, cfg)
    >>> now = evaluate(state, state.ref_ts, cfg)
    >>> round(now.score, 1), round(now.raw_score, 1), now.band  # the score is the composite
    (78.6, 78.6, 'good')
    >>> later = evaluate(state, state.ref_ts + 90 * DAY_MS, cfg)  # nothing for 90 days
    >>> round(later.score, 1), later.components["purchase"], later.confidence
    (33.4, 40.2, 0.02)
    >>> [driver.detail for driver in later.drivers][:2]
    ['no purchase in 90 days', 'uses 1 of 4 target products or services in the last 90 days']
    >>> evaluate(state, 0, cfg).as_of == state.ref_ts  # never before the state's clock
    True
    """
    at = max(at, s.ref_ts)
    weights = cfg.weights_for(s.segment)
    # Direct calls, not a loop over a table of functions: compiled, they are native calls.
    results = (purchase_component(s, at, cfg), depth_component(s, at, cfg),
               support_component(s, at, cfg), engagement_component(s, at, cfg),
               satisfaction_component(s, at, cfg), revenue_component(s, at, cfg))
    present: dict[str, ComponentResult] = {}
    components: dict[str, float | None] = {}
    weight_sum = 0.0
    weighted = 0.0
    others_weighted = 0.0  # the same sum without support, in the same order
    for name, result in zip(COMPONENTS, results, strict=True):
        if result is None:
            components[name] = None
            continue
        components[name] = round(result.score, 1)
        weight = weights[name]
        if weight > 0:
            present[name] = result
            weight_sum += weight
            weighted += weight * result.score
            if name != "support":
                others_weighted += weight * result.score
    raw: float | None = None
    others: float | None = None  # the composite of the other components, when support drags
    if weight_sum > 0:
        raw = weighted / weight_sum
        support = present.get("support")
        others_weight = weight_sum - weights["support"] if support is not None else 0.0
        if support is not None and others_weight > 0:
            # Support only ever drags: tickets, however well handled, never lift the score
            # above what the rest of the relationship says (an urgent ticket opened by a
            # customer in trouble would otherwise raise its score).
            others = others_weighted / others_weight
            raw = (others * others_weight
                   + weights["support"] * min(support.score, others)) / weight_sum
    # Tickets left past their SLA cap the score: no other health makes up for them, and the
    # cap, not the component's weight, says how much they cost.
    capped: tuple[str, float] | None = None
    if raw is not None:
        for name, result in present.items():
            ceiling = None if result.cap is None else 100.0 - result.cap.loss
            if ceiling is not None and ceiling < raw:
                capped = (name, raw - ceiling)
                raw = ceiling
    evidence = float(s.evidence)
    k = cfg.prior_strength
    trust = evidence / (evidence + k) if evidence + k > 0 else 1.0
    # Thin evidence lowers the confidence, never the score: shrinking toward a prior would rank
    # a one-time buyer above a long-lapsed regular.
    score = _clamp(cfg.prior_score if raw is None else raw)

    total_weight = sum(w for w in weights.values() if w > 0)
    fresh_weight = 0.0
    for name, result in present.items():
        if result.last_data_ts is None:
            continue
        if at - result.last_data_ts <= cfg.fresh_within_ms[name]:
            fresh_weight += weights[name]
    confidence = (fresh_weight / total_weight) * trust if total_weight else 0.0

    def explain() -> tuple[Driver, ...]:
        return _drivers(present, weights, weight_sum, cfg.alerts.max_drivers, capped,
                        cfg.alerts.threshold)

    def attribute() -> dict[str, Loss]:
        return _losses(present, weights, weight_sum, others, capped)

    return Evaluation(
        as_of=at,
        score=score,
        raw_score=raw,
        components=components,
        confidence=round(confidence, 3),
        explain=explain,
        attribute=attribute,
    )


def _worst_part(result: ComponentResult) -> Part | None:
    worst: Part | None = None
    for part in result.parts:  # the first of the largest losses, as max() would
        if part.loss > 0 and (worst is None or part.loss > worst.loss):
            worst = part
    return worst


def _losses(present: dict[str, ComponentResult], weights: Mapping[str, float],
            weight_sum: float, others: float | None,
            capped: tuple[str, float] | None) -> dict[str, Loss]:
    """Each component's share of ``100 - score``: its weighted distance from 100 (support's
    counted from what it drags the others to), plus, for the component whose cap holds the
    score down, the points the cap takes beyond that."""
    out: dict[str, Loss] = {}
    for name, result in present.items():
        value = result.score
        if name == "support" and others is not None:
            value = min(value, others)
        points = weights[name] / weight_sum * (100.0 - value)
        caps = capped is not None and capped[0] == name and result.cap is not None
        if caps and capped is not None:
            points += capped[1]
        out[name] = Loss(points, result, caps)
    return out


def _drivers(present: dict[str, ComponentResult], weights: Mapping[str, float],
             weight_sum: float, limit: int,
             capped: tuple[str, float] | None = None,
             threshold: float = 0.0) -> tuple[Driver, ...]:
    """The components that cost the most points; ``capped`` names the component whose cap
    holds the score down and by how many points beyond its weighted loss. Under a cap the
    other components cost nothing (the score is the cap): they are named only when they are
    a problem of their own, below ``threshold``."""
    drivers: list[Driver] = []
    for name, result in present.items():
        impact = weights[name] / weight_sum * (100.0 - result.score)
        if (capped is not None and capped[0] == name and result.cap is not None
                and impact + capped[1] >= 0.5):
            drivers.append(Driver(name, round(result.score, 1), round(impact + capped[1], 1),
                                  result.cap.detail))
            continue
        if impact < 0.5 or not result.parts or (capped is not None and result.score >= threshold):
            continue
        worst = result.parts[0]
        for part in result.parts:  # the first of the largest losses, as max() would
            if part.loss > worst.loss:
                worst = part
        if worst.loss <= 0:
            continue
        drivers.append(Driver(name, round(result.score, 1), round(impact, 1), worst.detail))
    drivers.sort(key=lambda d: (-d.impact, d.component))
    return tuple(drivers[:limit])
