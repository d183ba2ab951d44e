"""The model's components, composite, confidence and drivers on scripted histories."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pytest

from scorers.config import (
    COMPONENTS,
    DEFAULT_CONFIG,
    HOUR_MS,
    ScoringConfig,
    config_from_mapping,
)
from scorers.events import Event
from scorers.model import (
    band_of,
    depth_component,
    engagement_component,
    evaluate,
    purchase_component,
    revenue_component,
    satisfaction_component,
    support_component,
    ticket_load,
)
from scorers.scorer import apply_event
from scorers.state import CustomerState, decay_factor
from tests.support.strategies import DAY, T0, interaction, purchase, ticket

URGENT, HIGH, NORMAL, LOW = 3, 2, 1, 0


def only(component: str, **extra: Any) -> ScoringConfig:
    """A config scoring one component alone, with no prior shrinkage."""
    weights = {name: 1.0 if name == component else 0.0 for name in COMPONENTS}
    return config_from_mapping({"weights": weights, "model": {"prior_strength": 0}, **extra})


def run(events: Iterable[Event], cfg: ScoringConfig = DEFAULT_CONFIG) -> CustomerState:
    state: CustomerState | None = None
    for event in events:
        state, _ = apply_event(state, event, cfg)
    assert state is not None
    return state


# --- basics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "band"),
    [(100.0, "excellent"), (80.0, "excellent"), (79.99, "good"), (60.0, "good"),
     (59.99, "fair"), (40.0, "fair"), (39.99, "poor"), (0.0, "poor")],
)
def test_band_boundaries(score: float, band: str) -> None:
    assert band_of(score) == band


def test_decay_factor() -> None:
    assert decay_factor(0, 10) == 1.0
    assert decay_factor(-5, 10) == 1.0
    assert decay_factor(10, 10) == 0.5
    assert decay_factor(30, 10) == 0.125
    assert 0.0 <= decay_factor(10**15, 1) < 1e-300


def test_evaluate_has_no_side_effects_and_clamps_to_the_clock() -> None:
    state = run([purchase(T0), interaction(T0 + DAY, nps=8), ticket(T0 + 2 * DAY)])
    before = state.to_bytes()
    early = evaluate(state, T0 - 10 * DAY, DEFAULT_CONFIG)
    assert early.as_of == state.ref_ts
    assert early == evaluate(state, state.ref_ts, DEFAULT_CONFIG)
    evaluate(state, state.ref_ts + 90 * DAY, DEFAULT_CONFIG)
    assert state.to_bytes() == before


# --- prior, shrinkage, renormalisation, confidence --------------------------------------------


def test_customer_without_component_data_scores_the_prior() -> None:
    state = run([purchase(T0, 50, type="refund")])
    result = evaluate(state, T0 + 30 * DAY, DEFAULT_CONFIG)
    assert result.raw_score is None and result.score == DEFAULT_CONFIG.prior_score
    assert set(result.components.values()) == {None}


def test_a_customer_known_only_by_an_open_ticket_is_scored_by_it() -> None:
    state = run([ticket(T0, priority=URGENT)])
    assert state.evidence == 1  # an open ticket is evidence
    result = evaluate(state, T0 + 30 * DAY, DEFAULT_CONFIG)
    assert result.raw_score is not None and result.score == result.raw_score < 50
    assert [n for n, v in result.components.items() if v is not None] == ["support"]
    assert 0 < result.confidence < 0.5


def test_thin_evidence_lowers_the_confidence_never_the_score() -> None:
    cfg = DEFAULT_CONFIG
    state = run([interaction(T0, "survey", nps=0)])
    result = evaluate(state, T0, cfg)
    assert result.raw_score is not None and result.score == result.raw_score
    trust = state.evidence / (state.evidence + cfg.prior_strength)
    assert result.confidence <= trust
    # more of the same evidence: the same score, more confidence in it
    more = run([interaction(T0 + i, "survey", nps=0) for i in range(40)])
    more_result = evaluate(more, T0 + 40, cfg)
    assert more_result.score == pytest.approx(result.score, abs=0.5)
    assert more_result.confidence > result.confidence


def test_each_component_is_reported_under_its_own_name() -> None:
    """evaluate calls the components in COMPONENTS' order by hand: a reordering of either
    must not put one component's score under another's name."""
    functions = {"purchase": purchase_component, "depth": depth_component,
                 "support": support_component, "engagement": engagement_component,
                 "satisfaction": satisfaction_component, "revenue": revenue_component}
    assert set(functions) == set(COMPONENTS)
    state = run([purchase(T0, product="p-1"), ticket(T0 + HOUR_MS, "t-1", priority=URGENT),
                 interaction(T0 + 2 * HOUR_MS, "call", nps=3, csat=2)]
                + [purchase(T0 + day * DAY, 40.0 * day, product=f"p-{day}")
                   for day in (20, 40, 70)])
    at = T0 + 75 * DAY
    reported = evaluate(state, at, DEFAULT_CONFIG).components
    own = {name: fn(state, at, DEFAULT_CONFIG) for name, fn in functions.items()}
    assert all(result is not None for result in own.values()), own
    assert list(reported) == list(COMPONENTS)
    assert reported == {name: round(result.score, 1)  # type: ignore[union-attr]
                        for name, result in own.items()}
    assert len(set(reported.values())) > 3, "too few distinct scores to tell them apart"


def test_components_without_data_are_left_out_and_weights_renormalised() -> None:
    cfg = config_from_mapping({"model": {"prior_strength": 0}})
    state = run([interaction(T0, "meeting", nps=10)])
    result = evaluate(state, T0, cfg)
    assert result.components["purchase"] is None
    assert result.components["depth"] is None
    assert result.components["revenue"] is None
    present = {"support": 100.0, "satisfaction": 100.0,
               "engagement": engagement_component(state, T0, cfg).score}  # type: ignore[union-attr]
    expected = sum(cfg.weights[n] * v for n, v in present.items()) / sum(
        cfg.weights[n] for n in present)
    assert math.isclose(result.score, expected)


def test_segment_weights_change_the_composite() -> None:
    cfg = config_from_mapping({"model": {"prior_strength": 0}})
    events = [purchase(T0, product="p-1"), interaction(T0, "login", nps=3, sentiment=-1),
              ticket(T0, priority=URGENT)]
    plain = evaluate(run(events), T0, cfg)
    smb_events = [*events[:-1], ticket(T0, priority=URGENT, segment="smb")]
    smb_state = run(smb_events)
    assert smb_state.segment == "smb"
    smb = evaluate(smb_state, T0, cfg)
    assert plain.components == smb.components
    weights = cfg.weights_for("smb")
    expected = sum(weights[n] * v for n, v in _unrounded(smb_state, T0, cfg).items()) / sum(
        weights[n] for n in _unrounded(smb_state, T0, cfg))
    assert math.isclose(smb.score, expected)
    assert not math.isclose(smb.score, plain.score)


def _unrounded(state: CustomerState, at: int, cfg: ScoringConfig) -> dict[str, float]:
    functions = {"purchase": purchase_component, "depth": depth_component,
                 "support": support_component, "engagement": engagement_component,
                 "satisfaction": satisfaction_component, "revenue": revenue_component}
    out = {}
    for name, function in functions.items():
        result = function(state, at, cfg)
        if result is not None:
            out[name] = result.score
    return out


def test_latest_segment_wins_and_late_segment_does_not_override() -> None:
    state = run([interaction(T0 + DAY, segment="smb"), interaction(T0, segment="enterprise")])
    assert state.segment == "smb"
    state = run([interaction(T0, segment="smb"), interaction(T0 + DAY, segment="enterprise")])
    assert state.segment == "enterprise"
    state = run([interaction(T0, segment="smb"), interaction(T0 + DAY)])
    assert state.segment == "smb"  # an event without a segment keeps it


def test_confidence_falls_when_data_goes_stale() -> None:
    events = [purchase(T0 + d * DAY, product=f"p-{d % 4}") for d in range(0, 60, 5)]
    events += [interaction(T0 + d * DAY, nps=9) for d in range(0, 60, 3)]
    events += [ticket(T0 + 50 * DAY, "t-1"), ticket(T0 + 51 * DAY, "t-1", "resolved")]
    state = run(events)
    fresh = evaluate(state, state.ref_ts, DEFAULT_CONFIG).confidence
    stale = evaluate(state, state.ref_ts + 400 * DAY, DEFAULT_CONFIG).confidence
    trust = state.evidence / (state.evidence + DEFAULT_CONFIG.prior_strength)
    assert math.isclose(fresh, round(trust, 3), abs_tol=1e-3)  # every component fresh
    assert stale == 0.0
    assert 0.0 < evaluate(state, state.ref_ts + 60 * DAY, DEFAULT_CONFIG).confidence < fresh


# --- support ----------------------------------------------------------------------------------


def test_ticket_load_grows_past_sla_up_to_the_cap() -> None:
    cfg = DEFAULT_CONFIG
    sla = int(cfg.support.sla_ms[URGENT])
    assert ticket_load(URGENT, T0, T0, cfg) == 4.0
    assert ticket_load(URGENT, T0, T0 + sla, cfg) == 4.0
    assert ticket_load(URGENT, T0, T0 + 2 * sla, cfg) == 8.0
    assert ticket_load(URGENT, T0, T0 + 100 * sla, cfg) == 4.0 * (1 + 3.0)
    assert ticket_load(LOW, T0, T0, cfg) == 0.5
    assert ticket_load(NORMAL, T0, T0 + int(1.5 * cfg.support.sla_ms[NORMAL]), cfg) == 1.5


def test_support_without_tickets_is_no_data_not_perfect() -> None:
    """No ticket is not evidence of perfect support, and a ticket feed that stops must not
    make everyone's support perfect: before the first ticket, support is left out."""
    state = run([purchase(T0)])
    assert support_component(state, T0, DEFAULT_CONFIG) is None
    assert evaluate(state, T0, DEFAULT_CONFIG).components["support"] is None
    resolved = run([purchase(T0), ticket(T0, "t-1"), ticket(T0 + HOUR_MS, "t-1", "resolved")])
    result = support_component(resolved, T0 + HOUR_MS, DEFAULT_CONFIG)
    assert result is not None and result.score == 100.0 and result.parts == ()


def test_open_urgent_ticket_halves_support_then_resolution_restores_it() -> None:
    cfg = only("support")
    opened = ticket(T0, "t-1", priority=URGENT)
    state = run([interaction(T0), opened])
    assert evaluate(state, T0, cfg).score == pytest.approx(100 / (1 + 4 / 4))
    # past SLA: the load doubles at 2x SLA
    assert evaluate(state, T0 + 16 * HOUR_MS, cfg).score == pytest.approx(100 / (1 + 8 / 4))
    resolved = run([interaction(T0), opened, ticket(T0 + HOUR_MS, "t-1", "resolved", csat=5)])
    assert evaluate(resolved, T0 + HOUR_MS, cfg).score == pytest.approx(100.0)


def test_late_resolution_escalation_and_reopen_cost_points() -> None:
    cfg = only("support")
    c = cfg.support
    late = run([interaction(T0), ticket(T0, "t-1", priority=URGENT),
                ticket(T0 + 9 * HOUR_MS, "t-1", "resolved", csat=5)])
    expected = 100 / (1 + c.late_resolution_load / c.softness)  # a 5/5 CSAT takes nothing
    assert evaluate(late, late.ref_ts, cfg).score == pytest.approx(expected)
    escalated = run([interaction(T0), ticket(T0, "t-1"), ticket(T0, "t-1", "escalated"),
                     ticket(T0, "t-1", "resolved")])
    assert evaluate(escalated, T0, cfg).score == pytest.approx(
        100 / (1 + c.escalation_load / c.softness))
    reopened = run([interaction(T0), ticket(T0, "t-1"), ticket(T0, "t-1", "resolved"),
                    ticket(T0, "t-1", "reopened")])
    assert "t-1" in reopened.open_tickets
    assert evaluate(reopened, T0, cfg).score == pytest.approx(
        100 / (1 + (c.reopen_load + 1.0) / c.softness))


def test_decayed_support_loads_recover_with_time() -> None:
    cfg = only("support")
    state = run([interaction(T0), ticket(T0, "t-1"), ticket(T0, "t-1", "escalated"),
                 ticket(T0, "t-1", "resolved")])
    c = cfg.support
    now = evaluate(state, T0, cfg).score
    later = evaluate(state, T0 + int(c.half_life_ms), cfg).score  # one half-life on
    assert later == pytest.approx(100 / (1 + 0.5 * c.escalation_load / c.softness))
    assert now < later < 100


def test_ticket_csat_blends_in() -> None:
    cfg = only("support")
    state = run([interaction(T0), ticket(T0, "t-1"), ticket(T0, "t-1", "closed", csat=1)])
    assert evaluate(state, T0, cfg).score == pytest.approx(0.75 * 100 + 0.25 * 0)


def test_happy_ticket_csat_never_offsets_tickets_left_open() -> None:
    cfg = only("support")
    c = cfg.support
    backlog = [ticket(T0, f"open-{n}", priority=URGENT) for n in range(9)]
    happy = run([ticket(T0 - DAY, "t-0"), ticket(T0 - DAY, "t-0", "resolved", csat=5),
                 *backlog])
    at = T0 + 3 * DAY  # nine urgent tickets, each far past its SLA
    load = 9 * ticket_load(URGENT, T0, at, cfg)
    score = evaluate(happy, at, cfg).score
    assert score == pytest.approx(100 / (1 + load / c.softness))  # 5/5 takes nothing, adds nothing
    assert score < 5
    unhappy = run([ticket(T0 - DAY, "t-0"), ticket(T0 - DAY, "t-0", "resolved", csat=1),
                   *backlog])
    assert evaluate(unhappy, at, cfg).score == pytest.approx((1 - c.csat_share) * score)


def test_closed_after_resolved_is_one_resolution() -> None:
    once = run([ticket(T0, "t-1", priority=URGENT),
                ticket(T0 + DAY, "t-1", "resolved")])
    twice = run([ticket(T0, "t-1", priority=URGENT),
                 ticket(T0 + DAY, "t-1", "resolved"), ticket(T0 + DAY + 1, "t-1", "closed")])
    assert once.evidence == twice.evidence == 2  # the opening and one resolution
    assert once.s_late == 1.0
    assert twice.s_late == pytest.approx(1.0)  # only decayed by the closing's 1 ms


def test_open_arriving_after_its_resolution_does_not_reopen() -> None:
    state = run([ticket(T0 + DAY, "t-1", "resolved"), ticket(T0, "t-1")])
    assert state.open_tickets == {}
    assert "t-1" in state.closed_tickets


def test_update_raises_priority_never_lowers_it() -> None:
    state = run([ticket(T0, "t-1", priority=NORMAL), ticket(T0, "t-1", "updated", priority=URGENT),
                 ticket(T0, "t-1", "updated", priority=LOW)])
    assert state.open_tickets["t-1"] == [URGENT, T0]


def test_open_ticket_driver_says_what_is_wrong() -> None:
    state = run([interaction(T0), ticket(T0, "t-1", priority=URGENT),
                 ticket(T0 + 2 * HOUR_MS, "t-2", priority=URGENT)])
    at = T0 + 31 * HOUR_MS
    result = support_component(state, at, DEFAULT_CONFIG)
    details = [p.detail for p in result.parts]
    assert "2 urgent tickets open past SLA (oldest 31 h)" in details
    fresh = support_component(state, T0 + 2 * HOUR_MS, DEFAULT_CONFIG)
    assert "2 tickets open (highest priority urgent)" in [p.detail for p in fresh.parts]


def test_open_tickets_are_capped_and_the_lightest_goes() -> None:
    cfg = config_from_mapping({"support": {"max_open_tickets": 3}})
    state = run([ticket(T0, "t-low", priority=LOW), ticket(T0, "t-a", priority=HIGH),
                 ticket(T0, "t-b", priority=HIGH), ticket(T0, "t-c", priority=URGENT)], cfg)
    assert set(state.open_tickets) == {"t-a", "t-b", "t-c"}


# --- purchase, depth, revenue -----------------------------------------------------------------


def test_purchase_recency_is_linear_between_grace_and_zero() -> None:
    cfg = only("purchase")
    state = run([purchase(T0 + d * DAY) for d in range(0, 90, 15)])
    last = state.last_purchase_ts
    assert last is not None
    c = cfg.purchase

    def recency_part(at: int) -> str:
        result = purchase_component(state, at, cfg)
        assert result is not None
        return result.parts[0].detail

    assert recency_part(last + 30 * DAY).startswith("buying ")
    assert recency_part(last + 75 * DAY) == "no purchase in 75 days"
    at_zero = purchase_component(state, last + 120 * DAY, cfg)
    assert at_zero is not None
    # recency gone and frequency decayed, returns untouched: at least the returns share is left
    assert at_zero.score >= 100 * c.returns_share
    assert at_zero.score < 100 * (c.returns_share + c.frequency_share)


def test_returns_cost_up_to_their_share() -> None:
    cfg = only("purchase")
    clean = run([purchase(T0, 100)])
    half = run([purchase(T0, 100), purchase(T0, 50, type="return")])
    full = run([purchase(T0, 100), purchase(T0, 100, type="refund")])
    s_clean = evaluate(clean, T0, cfg).score
    lost = 100 * cfg.purchase.returns_share
    assert evaluate(half, T0, cfg).score == pytest.approx(s_clean - lost)
    assert evaluate(full, T0, cfg).score == pytest.approx(s_clean - lost)
    result = purchase_component(half, T0, cfg)
    assert result is not None
    assert "returns are 50% of order value" in [p.detail for p in result.parts]


def test_buying_at_the_expected_cadence_scores_full_frequency() -> None:
    cfg = only("purchase")
    state = run([purchase(T0 + d * DAY) for d in range(0, 360, 15)])
    assert evaluate(state, state.ref_ts + 7 * DAY, cfg).score > 95
    sparse = run([purchase(T0 + d * DAY) for d in range(0, 360, 60)])
    assert evaluate(sparse, sparse.ref_ts + 7 * DAY, cfg).score < 80


def test_depth_counts_distinct_products_in_the_window() -> None:
    cfg = DEFAULT_CONFIG
    state = run([purchase(T0, product="p-1"), interaction(T0, product="p-2"),
                 purchase(T0 + DAY, product="p-1")])
    result = depth_component(state, T0 + DAY, cfg)
    assert result is not None and result.score == 50.0
    assert result.parts[0].detail == (
        "uses 2 of 4 target products or services in the last 90 days")
    wide = run([purchase(T0, product=f"p-{i}") for i in range(6)])
    assert depth_component(wide, T0, cfg).score == 100.0  # type: ignore[union-attr]
    assert depth_component(state, T0 + 91 * DAY, cfg).score == 25.0  # type: ignore[union-attr]
    assert depth_component(state, T0 + 92 * DAY, cfg).score == 0.0  # type: ignore[union-attr]


def test_products_are_capped_keeping_the_most_recent() -> None:
    cfg = config_from_mapping({"depth": {"max_products": 2}})
    state = run([purchase(T0 + i, product=f"p-{i}") for i in range(4)], cfg)
    assert state.products == {"p-2": T0 + 2, "p-3": T0 + 3}


def test_revenue_needs_history_and_steady_spend_scores_70() -> None:
    cfg = DEFAULT_CONFIG
    young = run([purchase(T0 + d * DAY, 10) for d in range(44)])
    assert revenue_component(young, young.ref_ts, cfg) is None
    steady = run([purchase(T0 + d * DAY, 10) for d in range(365)])
    result = revenue_component(steady, steady.ref_ts + DAY // 2, cfg)
    assert result is not None and result.score == pytest.approx(70.0, abs=1.0)
    growing = run([purchase(T0 + d * DAY, 10 if d < 300 else 30) for d in range(365)])
    assert revenue_component(growing, growing.ref_ts, cfg).score > 90  # type: ignore[union-attr]
    lapsed = [revenue_component(steady, steady.ref_ts + days * DAY, cfg) for days in (60, 120)]
    assert [r.score for r in lapsed if r] == sorted((r.score for r in lapsed if r), reverse=True)
    assert lapsed[0] is not None and lapsed[0].score < 30  # spend down two thirds
    assert lapsed[1] is not None and lapsed[1].score < lapsed[0].score  # no floor: still ranked


def test_returns_only_history_has_no_revenue_or_purchase_component() -> None:
    state = run([purchase(T0, 50, type="return")])
    assert purchase_component(state, T0, DEFAULT_CONFIG) is None
    assert revenue_component(state, T0 + 100 * DAY, DEFAULT_CONFIG) is None


# --- engagement and satisfaction --------------------------------------------------------------


def test_engagement_volume_recency_and_sentiment() -> None:
    cfg = only("engagement")
    # 8 weighted touches a month for a long time: full volume
    busy = run([interaction(T0 + d * DAY, "email") for d in range(0, 300, 3)]
               + [interaction(T0 + d * DAY, "email") for d in range(1, 300, 3)])
    assert evaluate(busy, busy.ref_ts, cfg).score == pytest.approx(100.0)
    quiet = run([interaction(T0 + d * DAY, "login") for d in range(0, 300, 15)])
    assert evaluate(quiet, quiet.ref_ts, cfg).score < 70
    gone = evaluate(busy, busy.ref_ts + 60 * DAY, cfg)
    # recency is gone entirely; only decayed volume is left
    assert gone.score < 100 * cfg.engagement.volume_share
    assert gone.drivers[0].detail == "no contact in 60 days"
    angry = run([interaction(T0 + d * DAY, "email", sentiment=-1.0) for d in range(0, 300, 2)])
    assert evaluate(angry, angry.ref_ts, cfg).score == pytest.approx(
        100 * (1 - cfg.engagement.sentiment_share))


def test_positive_sentiment_is_never_called_negative() -> None:
    cfg = only("engagement")
    state = run([interaction(T0 + d * DAY, "email", sentiment=0.5) for d in range(0, 300, 2)])
    result = engagement_component(state, state.ref_ts, cfg)
    assert result is not None and result.score < 100
    assert all("negative" not in part.detail for part in result.parts)
    negative = run([interaction(T0, "email", sentiment=-0.5)])
    details = [p.detail for p in engagement_component(negative, T0, cfg).parts]  # type: ignore[union-attr]
    assert any("negative sentiment" in d and "-0.50" in d for d in details)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([{"nps": 10}], 100.0),
        ([{"nps": 7}], 70.0),
        ([{"nps": 0}], 0.0),
        ([{"csat": 5}], 100.0),
        ([{"csat": 2}], 25.0),
        ([{"nps": 10, "csat": 3}], 0.6 * 100 + 0.4 * 50),
        ([{"nps": 10}, {"nps": 4}], 70.0),
        ([{"nps": 10}, {"csat": 1}], 60.0),
    ],
)
def test_satisfaction_from_nps_and_csat(answers: list[dict[str, int]], expected: float) -> None:
    cfg = only("satisfaction")
    state = run([interaction(T0, "survey", **a) for a in answers])  # type: ignore[arg-type]
    assert evaluate(state, T0, cfg).score == pytest.approx(expected)


def test_satisfaction_weighs_recent_answers_more() -> None:
    cfg = only("satisfaction")
    half_life = int(cfg.satisfaction.half_life_ms)
    state = run([interaction(T0, "survey", nps=0),
                 interaction(T0 + half_life, "survey", nps=10)])
    # the old answer weighs half: (0 * 0.5 + 10 * 1) / 1.5
    assert evaluate(state, state.ref_ts, cfg).score == pytest.approx(100 / 1.5)


# --- drivers ----------------------------------------------------------------------------------


def test_drivers_are_the_biggest_losses_first_and_capped() -> None:
    state = run([purchase(T0, 100), purchase(T0, 100, type="refund"),
                 interaction(T0, "login", nps=0, sentiment=-1, product="p-1"),
                 ticket(T0, "t-1", priority=URGENT)])
    cfg = DEFAULT_CONFIG
    at = T0 + 10 * DAY
    result = evaluate(state, at, cfg)
    scores = _unrounded(state, at, cfg)
    weight_sum = sum(cfg.weights[n] for n in scores)
    impacts = {n: cfg.weights[n] / weight_sum * (100 - v) for n, v in scores.items()}
    top = sorted(impacts, key=lambda n: -impacts[n])[: cfg.alerts.max_drivers]
    assert len(impacts) > cfg.alerts.max_drivers
    assert [d.component for d in result.drivers] == top
    for driver in result.drivers:
        assert driver.impact == round(impacts[driver.component], 1)
        assert driver.score == round(scores[driver.component], 1)
    details = {d.component: d.detail for d in result.drivers}
    assert details["satisfaction"] == "NPS answers average 0.0/10 (detractor)"
    assert details["support"] == "1 urgent ticket open past SLA (oldest 240 h)"


def test_perfect_customer_has_no_drivers() -> None:
    cfg = only("satisfaction")
    state = run([interaction(T0, "survey", nps=10, csat=5)])
    assert evaluate(state, T0, cfg).drivers == ()


# --- tickets past their SLA cap the score ------------------------------------------------------


def thriving(days: int = 60) -> list[Event]:
    """Weekly purchases over four products and warm meetings: every component near 100."""
    events: list[Event] = []
    for day in range(0, days, 7):
        events.append(purchase(T0 + day * DAY, 100.0, product=f"p-{day // 7 % 4}"))
        events.append(interaction(T0 + day * DAY + HOUR_MS, "meeting", sentiment=0.8, nps=10))
    return events


def test_urgent_tickets_past_sla_cap_the_score_whatever_else_is_healthy() -> None:
    end = T0 + 60 * DAY
    state = run([*thriving(), ticket(end, "u-1", priority=URGENT),
                 ticket(end, "u-2", priority=URGENT)])
    healthy = evaluate(run(thriving()), end, DEFAULT_CONFIG).score
    cap_load = DEFAULT_CONFIG.support.overdue_cap_load
    at = end + 32 * HOUR_MS  # both tickets 3 SLAs late: overdue 2 x 4 x 3 = 24
    result = evaluate(state, at, DEFAULT_CONFIG)
    assert healthy > 85
    assert result.score == pytest.approx(100 / (1 + 24 / cap_load))  # 40 with the default
    assert result.score == result.raw_score  # the cap is the score, not a shrinkage
    first = result.drivers[0]
    assert first.component == "support"
    assert first.detail.startswith("2 urgent tickets open past SLA (oldest 32 h)")
    assert first.detail.endswith("; until they are answered, the score is held at or below 40")
    one = evaluate(run([*thriving(), ticket(end, "u-1", priority=URGENT)]), at, DEFAULT_CONFIG)
    assert one.drivers[0].detail == ("1 urgent ticket open past SLA (oldest 32 h); until it is "
                                     "answered, the score is held at or below 57")
    assert [d.component for d in result.drivers] == ["support"]  # the rest cost nothing now
    assert first.impact == pytest.approx(healthy - result.score, abs=5.0)
    # Within their SLA the tickets cost only the support component's weight.
    assert evaluate(state, end + 4 * HOUR_MS, DEFAULT_CONFIG).score > 70


def test_the_cap_can_be_turned_off() -> None:
    end = T0 + 60 * DAY
    state = run([*thriving(), ticket(end, "u-1", priority=URGENT),
                 ticket(end, "u-2", priority=URGENT)])
    off = config_from_mapping({"support": {"overdue_cap_load": 0}})
    assert evaluate(state, end + 32 * HOUR_MS, off).score > 70


def test_a_ticket_closed_unresolved_past_sla_keeps_capping_while_it_fades() -> None:
    end = T0 + 60 * DAY
    base = [*thriving(), ticket(end, "u-1", priority=URGENT),
            ticket(end, "u-2", priority=URGENT)]
    later = end + 40 * HOUR_MS
    given_up = run([*base, ticket(later, "u-1", "closed", priority=URGENT, csat=1),
                    ticket(later, "u-2", "closed", priority=URGENT, csat=1)])
    resolved = run([*base, ticket(later, "u-1", "resolved", priority=URGENT, csat=4),
                    ticket(later, "u-2", "resolved", priority=URGENT, csat=4)])
    assert given_up.s_abandoned == pytest.approx(24.0) and resolved.s_abandoned == 0.0
    assert evaluate(given_up, later, DEFAULT_CONFIG).score == pytest.approx(40.0, abs=0.5)
    assert evaluate(resolved, later, DEFAULT_CONFIG).score > 70
    half_life = int(DEFAULT_CONFIG.support.half_life_ms)
    cap_load = DEFAULT_CONFIG.support.overdue_cap_load
    faded = evaluate(given_up, later + half_life, DEFAULT_CONFIG)
    assert faded.score == pytest.approx(100 / (1 + 12 / cap_load), abs=0.5)  # half the lateness
    assert "closed unresolved" in faded.drivers[0].detail
