"""The scorer: ``(state, event) -> (state, outputs)``, the one entry point of the model.

The same functions score a live stream, a replayed topic and a JSONL file. They never read a
clock, never touch I/O and never mutate the state they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scorers.alerts import check_alerts
from scorers.change import step_change
from scorers.config import ScoringConfig
from scorers.events import Event, InteractionEvent, PurchaseEvent, TicketEvent
from scorers.model import Evaluation, band_of, evaluate, ticket_load
from scorers.schedule import next_check_ms
from scorers.state import CustomerState, decay_factor, id_digest
from scorers.timefmt import format_ms

EVENT = "event"
DECAY = "decay"


@dataclass(slots=True, init=False)
class Outputs:
    """What one step produced: score messages (one per change) and alerts.

    Due times are not caught up here: the caller's event-time clock decides when they fire
    (see scorers.schedule), so that an event read early from one topic cannot make a
    customer look silent while its other topics are still being read.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, outputs = apply_event(None, purchase, cfg)
    >>> len(outputs.scores), outputs.alerts, outputs.duplicate, outputs.late
    (1, [], False, False)
    >>> _, again = apply_event(state, purchase, cfg)  # redelivered: nothing to publish
    >>> again.duplicate, again.scores, again.evaluation is None
    (True, [], True)
    """

    duplicate: bool
    late: bool
    scores: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    evaluation: Evaluation | None

    # An explicit __init__: mypyc compiles it, not the one dataclass generates at import.
    def __init__(self, duplicate: bool = False, late: bool = False,
                 scores: list[dict[str, Any]] | None = None,
                 alerts: list[dict[str, Any]] | None = None,
                 evaluation: Evaluation | None = None) -> None:
        self.duplicate = duplicate
        self.late = late
        self.scores = [] if scores is None else scores
        self.alerts = [] if alerts is None else alerts
        self.evaluation = evaluation

    @property
    def score(self) -> dict[str, Any] | None:
        """The last score message of this step, if any.

        Examples:

        >>> Outputs().score is None
        True
        >>> Outputs(scores=[{"score": 70.1}, {"score": 68.4}]).score
        {'score': 68.4}
        """
        return self.scores[-1] if self.scores else None

    def extend(self, other: Outputs) -> None:
        """Append ``other``'s score messages and alerts (its flags and evaluation are not
        copied).

        Examples:

        >>> total = Outputs(scores=[{"score": 70.1}])
        >>> total.extend(Outputs(scores=[{"score": 68.4}], alerts=[{"type": "sharp_drop"}]))
        >>> len(total.scores), len(total.alerts)
        (2, 1)
        """
        self.scores.extend(other.scores)
        self.alerts.extend(other.alerts)


def new_state(event: Event) -> CustomerState:
    """The empty state of a customer first seen with ``event``.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state = new_state(purchase)
    >>> state.customer_id, state.ref_ts, state.events_seen, state.score
    ('c-42', 1795168800000, 0, None)
    """
    return CustomerState(customer_id=event.customer_id, first_ts=event.ts, ref_ts=event.ts)


def apply_event(
    state: CustomerState | None, event: Event, cfg: ScoringConfig, *, owned: bool = False
) -> tuple[CustomerState, Outputs]:
    """Apply one validated event; a repeated ``event_id`` returns the state unchanged.

    ``owned=True`` says the caller will not use ``state`` again, so it is updated in place
    instead of copied (a state decoded for this one call, say).

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> state, outputs = apply_event(None, purchase, cfg)  # None: a customer seen first
    >>> message = outputs.score
    >>> message["score"], message["band"], message["reason"], message["as_of"]
    (78.6, 'good', 'event', '2026-11-20T10:00:00Z')
    >>> [driver["detail"] for driver in message["drivers"]]
    ['uses 1 of 4 target products or services in the last 90 days']

    A redelivered event changes nothing; a new one returns a new state and leaves the old as
    it was:

    >>> apply_event(state, purchase, cfg)[1].duplicate
    True
    >>> ticket = validate_event("ticket", {
    ...     "event_id": "e2", "customer_id": "c-42", "ts": "2026-11-21T10:00:00Z",
    ...     "ticket_id": "t-9", "status": "opened", "priority": "urgent"}, reference_ms=None)
    >>> new, outputs = apply_event(state, ticket, cfg)
    >>> message = outputs.score
    >>> message["score"], message["previous_score"], message["components"]["support"]
    (68.2, 78.6, 50.0)
    >>> state.events_seen, new.events_seen
    (1, 2)
    """
    digest = id_digest(event.event_id)
    if state is None:
        state = new_state(event)
        owned = True
    elif state.remembers(digest):
        return state, Outputs(duplicate=True)
    s = state if owned else state.copy()
    late = event.ts < s.ref_ts
    if event.ts > s.ref_ts:
        _advance(s, event.ts, cfg)
    s.first_ts = min(s.first_ts, event.ts)
    s.events_seen += 1
    s.remember(digest, cfg.dedup_memory)
    if event.segment is not None and event.ts >= s.segment_ts:
        s.segment, s.segment_ts = event.segment, event.ts
    if isinstance(event, PurchaseEvent):
        _apply_purchase(s, event, cfg)
    elif isinstance(event, TicketEvent):
        _apply_ticket(s, event, cfg)
    else:
        _apply_interaction(s, event, cfg)
    outputs = _publish(s, s.ref_ts, EVENT, cfg)
    outputs.late = late
    return s, outputs


def rescore(
    state: CustomerState, at_ms: int, cfg: ScoringConfig, *, owned: bool = False
) -> tuple[CustomerState, Outputs]:
    """Re-score ``state`` at event time ``at_ms`` with no new event (time alone: ``decay``);
    ``owned`` as for :func:`apply_event`.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> from scorers.config import DAY_MS
    >>> from scorers.timefmt import format_ms
    >>> state, _ = apply_event(None, purchase, cfg)
    >>> later, outputs = rescore(state, state.ref_ts + 60 * DAY_MS, cfg)  # 60 quiet days
    >>> message = outputs.score
    >>> message["score"], message["previous_score"], message["reason"], message["as_of"]
    (41.6, 78.6, 'decay', '2027-01-19T10:00:00Z')
    >>> [driver["detail"] for driver in message["drivers"]][:2]
    ['no purchase in 60 days', 'uses 1 of 4 target products or services in the last 90 days']

    In the stream it runs at the state's due time (see :mod:`scorers.schedule`), the earliest
    time the score could cross a level: it need not have moved a published tenth by then, and
    then publishes nothing. A time the clock has already passed publishes nothing either:

    >>> format_ms(state.next_due), rescore(state, state.next_due, cfg)[1].scores
    ('2026-11-23T05:22:00Z', [])
    >>> rescore(later, state.ref_ts, cfg)[1].scores
    []
    """
    if at_ms <= state.ref_ts:
        return state, Outputs()  # an event already moved the clock past this due time
    s = state if owned else state.copy()
    _advance(s, at_ms, cfg)
    return s, _publish(s, at_ms, DECAY, cfg)


def score_message(s: CustomerState, evaluation: Evaluation, score: float,
                  previous: float | None, reason: str, cfg: ScoringConfig,
                  change: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``relationship-scores`` message for ``evaluation`` (docs/design.md section 4);
    ``change`` is what moved since the previous one (:mod:`scorers.change`).

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.events import validate_event
    >>> purchase = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120.0, "product_id": "crm"}, reference_ms=None)
    >>> from scorers.model import evaluate
    >>> state, _ = apply_event(None, purchase, cfg)
    >>> evaluation = evaluate(state, state.ref_ts, cfg)
    >>> message = score_message(state, evaluation, round(evaluation.score, 1), None, EVENT, cfg)
    >>> message["customer_id"], message["score"], message["band"], message["scorer_version"]
    ('c-42', 78.6, 'good', '4')
    >>> message["events_seen"], message["confidence"], message["as_of"], message["reason"]
    (1, 0.07, '2026-11-20T10:00:00Z', 'event')
    """
    return {
        "customer_id": s.customer_id,
        "score": score,
        "band": band_of(score),  # of the published (rounded) score
        "previous_score": previous,
        "components": evaluation.components,
        "confidence": evaluation.confidence,
        "as_of": format_ms(evaluation.as_of),
        "events_seen": s.events_seen,
        "reason": reason,
        "segment": s.segment,
        "drivers": [
            {"component": d.component, "score": d.score, "impact": d.impact, "detail": d.detail}
            for d in evaluation.drivers
        ],
        "evidence": s.evidence,
        "alert_hold": alert_hold(s, score, cfg),
        "change": [] if change is None else change,
        "scorer_version": cfg.scorer_version,
    }


def alert_hold(s: CustomerState, score: float, cfg: ScoringConfig) -> str | None:
    """Why a score under the threshold has no open alert: ``"thin_evidence"`` while fewer
    than ``alerts.min_evidence`` events back it, else None.

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.state import CustomerState
    >>> alert_hold(CustomerState("c-1", first_ts=0, ref_ts=0, evidence=1), 41.0, cfg)
    'thin_evidence'
    >>> alert_hold(CustomerState("c-1", first_ts=0, ref_ts=0, evidence=5), 41.0, cfg) is None
    True
    """
    if score < cfg.alerts.threshold and not s.below and s.evidence < cfg.alerts.min_evidence:
        return "thin_evidence"
    return None


def _publish(s: CustomerState, at: int, reason: str, cfg: ScoringConfig) -> Outputs:
    evaluation = evaluate(s, at, cfg)
    score = round(evaluation.score, 1)
    outputs = Outputs(evaluation=evaluation)
    # An event publishes when the score or a component moved, or when it brings the evidence
    # that lifts an alert hold; time alone only when the score itself moved (decay re-scores
    # near a level would otherwise flood the topic).
    lifts_hold = (not s.below and s.evidence == cfg.alerts.min_evidence
                  and score < cfg.alerts.threshold)
    changed = score != s.score or (
        reason == EVENT and (evaluation.components != s.components or lifts_hold))
    if changed:
        previous = s.score
        change, lost = step_change(previous, s.lost, s.components, evaluation)
        outputs.alerts = check_alerts(s, evaluation, score, previous, cfg.alerts)
        for alert in outputs.alerts:
            alert["change"] = change
        outputs.scores.append(score_message(s, evaluation, score, previous, reason, cfg, change))
        s.score = score
        s.components = evaluation.components
        s.lost = lost
    s.next_due = next_check_ms(s, evaluation, cfg)
    return outputs


def _advance(s: CustomerState, to_ms: int, cfg: ScoringConfig) -> None:
    """Move the state's clock forward to ``to_ms``, decaying every sum."""
    dt = to_ms - s.ref_ts
    fp = decay_factor(dt, cfg.purchase.half_life_ms)
    s.p_count *= fp
    s.p_value *= fp
    s.p_returned *= fp
    s.rev_short *= decay_factor(dt, cfg.revenue.short_half_life_ms)
    s.rev_long *= decay_factor(dt, cfg.revenue.long_half_life_ms)
    fs = decay_factor(dt, cfg.support.half_life_ms)
    s.s_escalations *= fs
    s.s_reopens *= fs
    s.s_late *= fs
    s.s_abandoned *= fs
    s.s_csat_sum *= fs
    s.s_csat_n *= fs
    fe = decay_factor(dt, cfg.engagement.half_life_ms)
    s.e_touch *= fe
    s.e_sent_sum *= fe
    s.e_sent_w *= fe
    fq = decay_factor(dt, cfg.satisfaction.half_life_ms)
    s.nps_sum *= fq
    s.nps_n *= fq
    s.csat_sum *= fq
    s.csat_n *= fq
    s.ref_ts = to_ms


def _weight(s: CustomerState, ts: int, half_life_ms: float) -> float:
    """The weight today of an observation at ``ts`` (< 1 for late events)."""
    return decay_factor(s.ref_ts - ts, half_life_ms)


def _see_product(s: CustomerState, product_id: str, ts: int, cfg: ScoringConfig) -> None:
    if s.products.get(product_id, -1) >= ts:
        return
    s.products[product_id] = ts
    if len(s.products) > cfg.depth.max_products:
        stalest = min(s.products, key=lambda p: (s.products[p], p))
        del s.products[stalest]


def _apply_purchase(s: CustomerState, e: PurchaseEvent, cfg: ScoringConfig) -> None:
    w = _weight(s, e.ts, cfg.purchase.half_life_ms)
    ws = _weight(s, e.ts, cfg.revenue.short_half_life_ms)
    wl = _weight(s, e.ts, cfg.revenue.long_half_life_ms)
    s.evidence += 1
    if e.type == "purchase":
        s.p_count += w
        s.p_value += e.amount * w
        s.rev_short += e.amount * ws
        s.rev_long += e.amount * wl
        if s.first_purchase_ts is None or e.ts < s.first_purchase_ts:
            s.first_purchase_ts = e.ts
        if s.last_purchase_ts is None or e.ts > s.last_purchase_ts:
            s.last_purchase_ts = e.ts
        _see_product(s, e.product_id, e.ts, cfg)
    else:
        s.p_returned += e.amount * w
        s.rev_short -= e.amount * ws
        s.rev_long -= e.amount * wl


def _apply_ticket(s: CustomerState, e: TicketEvent, cfg: ScoringConfig) -> None:
    c = cfg.support
    w = _weight(s, e.ts, c.half_life_ms)
    if s.last_ticket_ts is None or e.ts > s.last_ticket_ts:
        s.last_ticket_ts = e.ts
    tid = e.ticket_id
    if e.status == "opened":
        ticket = s.open_tickets.get(tid)
        if ticket is not None:
            # Opened earlier than a status seen first (e.g. "escalated"): it is that old.
            ticket[1] = min(ticket[1], e.ts)
            ticket[0] = max(ticket[0], e.priority)
            return
        closed = s.closed_tickets.get(tid)
        if closed is not None and closed[1] >= e.ts:
            # This open arrived after its own resolution: judge that resolution now.
            if closed[1] - e.ts > c.sla_ms[max(closed[0], e.priority)]:
                s.s_late += _weight(s, closed[1], c.half_life_ms)
            return
        _open_ticket(s, tid, e.priority, e.ts, cfg)
    elif e.status in ("updated", "escalated"):
        if e.status == "escalated":
            s.s_escalations += w
        ticket = s.open_tickets.get(tid)
        if ticket is not None:
            ticket[0] = max(ticket[0], e.priority)
        elif tid not in s.closed_tickets:
            _open_ticket(s, tid, e.priority, e.ts, cfg)
    elif e.status == "reopened":
        s.s_reopens += w
        ticket = s.open_tickets.get(tid)
        if ticket is not None:
            # Still open here: its resolution is yet to arrive, and predates this reopening.
            ticket[1] = max(ticket[1], e.ts)
        else:
            s.closed_tickets.pop(tid, None)
            _open_ticket(s, tid, e.priority, e.ts, cfg)
    else:  # resolved or closed
        if e.csat is not None:
            s.s_csat_sum += e.csat * w
            s.s_csat_n += w
        ticket = s.open_tickets.get(tid)
        if ticket is not None and ticket[1] > e.ts:
            return  # a resolution older than the (re)opening already applied
        s.open_tickets.pop(tid, None)
        if tid in s.closed_tickets:
            return  # "closed" after "resolved": one resolution
        s.evidence += 1
        priority = e.priority if ticket is None else ticket[0]
        if ticket is not None and e.ts - ticket[1] > c.sla_ms[priority]:
            s.s_late += w
            if e.status == "closed":
                # Closed without being resolved, after running past its SLA: the customer gave
                # up. Its lateness keeps capping the score while it fades (scorers.model).
                overdue = ticket_load(priority, ticket[1], e.ts, cfg) - c.priority_weight[priority]
                s.s_abandoned += overdue * w
        s.closed_tickets[tid] = [priority, e.ts]
        if len(s.closed_tickets) > c.max_open_tickets:
            oldest = min(s.closed_tickets, key=lambda t: (s.closed_tickets[t][1], t))
            del s.closed_tickets[oldest]


def _open_ticket(s: CustomerState, tid: str, priority: int, ts: int, cfg: ScoringConfig) -> None:
    s.evidence += 1  # an open ticket is evidence: a customer known only by tickets can page
    if len(s.open_tickets) >= cfg.support.max_open_tickets:
        # Full: the new ticket may only replace one it outweighs at every time from now on,
        # so a new ticket never lightens the load (kept otherwise, nothing is replaced).
        dominated = [
            other for other, (p, opened) in s.open_tickets.items()
            if _outweighs((priority, ts), (p, opened), s.ref_ts, cfg)
        ]
        if not dominated:
            return
        loads = {other: ticket_load(s.open_tickets[other][0], s.open_tickets[other][1], s.ref_ts,
                                    cfg) for other in dominated}
        del s.open_tickets[min(dominated, key=lambda other: (loads[other], other))]
    s.open_tickets[tid] = [priority, ts]


def _outweighs(new: tuple[int, int], old: tuple[int, int], since: int,
               cfg: ScoringConfig) -> bool:
    """True when ticket ``new`` weighs at least as much as ``old`` at every time >= ``since``.

    A ticket's load is flat, then rises linearly past its SLA, then is flat again at its cap:
    the difference of two such curves is piecewise linear, so checking it where either
    curve bends (and at ``since``) checks it everywhere.
    """
    c = cfg.support
    times = {since}
    for priority, opened in (new, old):
        sla = c.sla_ms[priority]
        times |= {int(opened + sla), int(opened + sla * (1 + c.max_overdue_factor)) + 1}
    return all(ticket_load(*new, t, cfg) >= ticket_load(*old, t, cfg) - 1e-12
               for t in times if t >= since)


def _apply_interaction(s: CustomerState, e: InteractionEvent, cfg: ScoringConfig) -> None:
    c = cfg.engagement
    w = _weight(s, e.ts, c.half_life_ms)
    s.evidence += 1
    weight = c.channel_weight[e.channel]
    s.e_touch += weight * w
    if s.last_touch_ts is None or e.ts > s.last_touch_ts:
        s.last_touch_ts = e.ts
    if e.sentiment is not None:
        s.e_sent_sum += e.sentiment * weight * w
        s.e_sent_w += weight * w
    if e.product_id is not None:
        _see_product(s, e.product_id, e.ts, cfg)
    if e.nps is not None or e.csat is not None:
        wq = _weight(s, e.ts, cfg.satisfaction.half_life_ms)
        if e.nps is not None:
            s.nps_sum += e.nps * wq
            s.nps_n += wq
        if e.csat is not None:
            s.csat_sum += e.csat * wq
            s.csat_n += wq
        if s.last_survey_ts is None or e.ts > s.last_survey_ts:
            s.last_survey_ts = e.ts
