"""Properties of the scorer over generated event histories, and the alert rules.

1. bounds: every published number is finite and in range, bands match scores;
2. monotonicity: an extra open urgent ticket never raises a score;
3. order invariance of the decayed aggregates (purchases and interactions);
4. idempotence: a duplicate event id changes nothing;
5. determinism and state round trips;
6. alerts: hysteresis, deterministic ids, severity, prior shrinkage, silence.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scorers.alerts import BELOW_THRESHOLD, RECOVERED, SHARP_DROP, alert_id, check_alerts
from scorers.config import COMPONENTS, DEFAULT_CONFIG, ScoringConfig, config_from_mapping
from scorers.events import INTERACTION, PURCHASE, Event
from scorers.model import Evaluation, band_of, evaluate, support_component
from scorers.scorer import Outputs, apply_event, rescore
from scorers.state import (
    _FIELD_NAMES,
    ID_DIGEST_CHARS,
    STATE_FORMAT,
    CustomerState,
    id_digest,
    schedule_fields,
)
from scorers.timefmt import format_ms, parse_rfc3339_ms
from tests.support.strategies import (
    DAY,
    HOUR,
    T0,
    decode,
    histories,
    interaction,
    payloads,
    purchase,
    single_customer_histories,
    ticket,
    with_id,
)

CFG = DEFAULT_CONFIG
URGENT = 3
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def replay(
    events: Iterable[Event], cfg: ScoringConfig = CFG,
    states: dict[str, CustomerState] | None = None,
) -> tuple[dict[str, CustomerState], list[Outputs]]:
    """Apply ``events`` in order, one state per customer."""
    states = {} if states is None else states
    outputs = []
    for event in events:
        state, out = apply_event(states.get(event.customer_id), event, cfg)
        states[event.customer_id] = state
        outputs.append(out)
    return states, outputs


def published(outputs: Iterable[Outputs]) -> list[Any]:
    """What reaches the topics: score messages and alerts, in order."""
    return [(out.score, out.alerts) for out in outputs]


def in_range(value: Any, low: float = 0.0, high: float = 100.0) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and low <= value <= high


# --- 1. bounds --------------------------------------------------------------------------------


def check_outputs(out: Outputs, cfg: ScoringConfig = CFG) -> None:
    if out.duplicate:
        assert out.score is None and out.alerts == [] and out.evaluation is None
        return
    ev = out.evaluation
    assert ev is not None
    assert in_range(ev.score)
    assert ev.raw_score is None or in_range(ev.raw_score)
    assert in_range(ev.confidence, 0.0, 1.0)
    assert set(ev.components) == set(COMPONENTS)
    for value in ev.components.values():
        assert value is None or in_range(value)
    for driver in ev.drivers:
        assert in_range(driver.score) and in_range(driver.impact) and driver.impact >= 0.5
        assert driver.detail
    # Decay re-scores at passed due times come first, then the event's own message.
    for msg in out.scores:
        assert in_range(msg["score"])
        assert msg["band"] == band_of(msg["score"])
        assert msg["previous_score"] is None or in_range(msg["previous_score"])
        assert in_range(msg["confidence"], 0.0, 1.0)
        for value in msg["components"].values():
            assert value is None or in_range(value)
        assert msg["reason"] in ("event", "decay")
        assert len(msg["drivers"]) <= cfg.alerts.max_drivers
    last = out.score
    if last is not None and last["reason"] == "event":
        assert last["score"] == round(ev.score, 1)
        assert parse_rfc3339_ms(last["as_of"]) == ev.as_of
    if not out.scores:
        assert out.alerts == []
    published = {(m["as_of"], m["score"]) for m in out.scores}
    for alert in out.alerts:
        assert in_range(alert["score"])
        assert (alert["as_of"], alert["score"]) in published
        assert alert["band"] == band_of(alert["score"])
        assert in_range(alert["confidence"], 0.0, 1.0)
        if alert["type"] == RECOVERED:
            assert alert["severity"] == "info"
            assert alert["score"] >= cfg.alerts.threshold + cfg.alerts.hysteresis
        else:
            critical = alert["score"] < cfg.alerts.critical_below
            assert alert["severity"] == ("critical" if critical else "warning")
        if alert["type"] == BELOW_THRESHOLD:
            assert alert["score"] < cfg.alerts.threshold
        assert alert["alert_id"] == alert_id(alert["customer_id"], alert["type"],
                                             parse_rfc3339_ms(alert["as_of"]))


@given(histories(), st.data())
@PROPERTY
def test_every_published_number_is_in_range(events: list[Event], data: st.DataObject) -> None:
    states: dict[str, CustomerState] = {}
    for event in events:
        state, out = apply_event(states.get(event.customer_id), event, CFG)
        states[event.customer_id] = state
        check_outputs(out)
        if data.draw(st.booleans(), label="tick"):
            later = state.ref_ts + data.draw(st.integers(1, 400 * DAY), label="dt")
            state, out = rescore(state, later, CFG)
            states[event.customer_id] = state
            check_outputs(out)
            assert out.score is None or out.score["reason"] == "decay"
    for state in states.values():
        for days in (0, 1, 30, 365, 5000):
            ev = evaluate(state, state.ref_ts + days * DAY, CFG)
            assert in_range(ev.score) and in_range(ev.confidence, 0.0, 1.0)
            assert ev.raw_score is None or in_range(ev.raw_score)
            for value in ev.components.values():
                assert value is None or in_range(value)


@given(histories(max_size=15), st.sampled_from([
    {"model": {"prior_strength": 0}},
    {"weights": {"support": 0, "purchase": 1}},
    {"support": {"softness": 0.01, "max_overdue_factor": 50}},
    {"purchase": {"half_life_days": 0.5}, "engagement": {"half_life_days": 0.5}},
    {"revenue": {"full_scale_growth": 1e-6, "min_history_days": 0}},
]))
@settings(max_examples=100, deadline=None)
def test_bounds_hold_under_extreme_configs(events: list[Event], overrides: Any) -> None:
    cfg = config_from_mapping(overrides)
    states, outputs = replay(events, cfg)
    for out in outputs:
        check_outputs(out, cfg)
    for state in states.values():
        check_outputs(rescore(state, state.ref_ts + 90 * DAY, cfg)[1], cfg)


@pytest.mark.parametrize("prior", [59.96, 79.97, 39.95])
def test_published_band_matches_the_published_score(prior: float) -> None:
    # A score of 59.96 is published as 60.0: its band must be "good", like any 60.0. A refund
    # alone gives no component data, so the score is the prior.
    cfg = config_from_mapping({"model": {"prior_score": prior}})
    _, out = apply_event(None, purchase(T0, 10.0, type="refund"), cfg)
    assert out.score is not None and out.evaluation is not None
    assert out.evaluation.score == prior
    assert out.score["score"] == round(prior, 1)
    assert out.score["band"] == band_of(out.score["score"])


def test_alert_band_matches_the_alert_score() -> None:
    cfg = config_from_mapping({"model": {"prior_score": 39.96},
                               "alerts": {"threshold": 45, "min_evidence": 0}})
    _, out = apply_event(None, purchase(T0, 10.0, type="refund"), cfg)
    [alert] = out.alerts
    assert alert["score"] == 40.0
    assert alert["band"] == "fair" == band_of(alert["score"])
    assert alert["severity"] == "warning"  # 40.0 is not below critical_below=40


# --- 2. an extra open urgent ticket never raises a score ---------------------------------------


@given(single_customer_histories(min_size=2), st.data())
@PROPERTY
def test_extra_open_urgent_ticket_never_raises_the_score(
    events: list[Event], data: st.DataObject
) -> None:
    states, _ = replay(events)
    state = states["c-1"]
    assume(state.ref_ts > state.first_ts)
    ts = data.draw(st.integers(state.first_ts + 1, state.ref_ts), label="ts")
    extra = ticket(ts, "t-extra", priority=URGENT, event_id="e-extra")
    after, out = apply_event(state, extra, CFG)
    assert not out.duplicate
    assert (after.ref_ts, after.first_ts, after.segment) == (
        state.ref_ts, state.first_ts, state.segment)
    assert "t-extra" in after.open_tickets
    for dt in (0, data.draw(st.integers(0, 400 * DAY), label="dt")):
        at = state.ref_ts + dt
        before_score = evaluate(state, at, CFG).score
        after_score = evaluate(after, at, CFG).score
        assert after_score <= before_score + 1e-9


@given(single_customer_histories(min_size=1), st.integers(0, 3), st.data())
@PROPERTY
def test_extra_open_ticket_never_raises_support(
    events: list[Event], priority: int, data: st.DataObject
) -> None:
    states, _ = replay(events)
    state = states["c-1"]
    ts = data.draw(st.integers(state.first_ts, state.ref_ts), label="ts")
    after, _ = apply_event(state, ticket(ts, "t-extra", priority=priority, event_id="x"), CFG)
    at = state.ref_ts + data.draw(st.integers(0, 100 * DAY), label="dt")
    before_support = evaluate(state, at, CFG).components["support"]
    after_support = evaluate(after, at, CFG).components["support"]
    assert after_support is not None  # a ticket is support data
    if before_support is not None:  # before the first ticket there is nothing to raise
        assert after_support <= before_support


# --- 3. order invariance ----------------------------------------------------------------------

DECAYED_FIELDS = (
    "p_count", "p_value", "p_returned", "rev_short", "rev_long", "e_touch", "e_sent_sum",
    "e_sent_w", "nps_sum", "nps_n", "csat_sum", "csat_n", "s_escalations", "s_reopens",
    "s_late", "s_csat_sum", "s_csat_n",
)
EXACT_FIELDS = (
    "customer_id", "first_ts", "ref_ts", "segment", "events_seen", "evidence",
    "first_purchase_ts", "last_purchase_ts", "products", "last_touch_ts", "last_survey_ts",
)


def gross_scale(events: Sequence[Event]) -> float:
    """The sum of the magnitudes the decayed sums are built from (for cancelling sums)."""
    total = 1.0
    for event in events:
        total += getattr(event, "amount", 0.0) + 10.0
    return total


def assert_same_aggregates(a: CustomerState, b: CustomerState, scale: float) -> None:
    for name in EXACT_FIELDS:
        assert getattr(a, name) == getattr(b, name), name
    for name in DECAYED_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        # relative 1e-9; sums with returns can cancel to ~0, so also 1e-9 of the gross sum
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9 * scale), (name, x, y)


@given(single_customer_histories(kinds=(PURCHASE, INTERACTION), min_size=2), st.data())
@PROPERTY
def test_decayed_aggregates_do_not_depend_on_arrival_order(
    events: list[Event], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events), label="order")
    a = replay(events)[0]["c-1"]
    b = replay(shuffled)[0]["c-1"]
    assert_same_aggregates(a, b, gross_scale(events))
    at = max(e.ts for e in events) + data.draw(st.integers(0, 200 * DAY), label="dt")
    ev_a, ev_b = evaluate(a, at, CFG), evaluate(b, at, CFG)
    assert math.isclose(ev_a.score, ev_b.score, abs_tol=1e-6)
    assert ev_a.confidence == ev_b.confidence


@given(single_customer_histories(kinds=(PURCHASE, INTERACTION), min_size=2))
@PROPERTY
def test_time_order_and_reverse_time_order_agree(events: list[Event]) -> None:
    forward = sorted(events, key=lambda e: (e.ts, e.event_id))
    a = replay(forward)[0]["c-1"]
    b = replay(forward[::-1])[0]["c-1"]
    assert_same_aggregates(a, b, gross_scale(events))
    at = a.ref_ts + 3 * DAY
    assert math.isclose(evaluate(a, at, CFG).score, evaluate(b, at, CFG).score, abs_tol=1e-6)


def test_late_event_counts_exactly_its_decayed_weight() -> None:
    h = CFG.purchase.half_life_ms
    early, late = purchase(T0, 100), purchase(T0 + int(h), 100)
    a = replay([early, late])[0]["c-1"]
    b = replay([late, early])[0]["c-1"]
    assert a.p_count == pytest.approx(1.5) and b.p_count == pytest.approx(1.5)
    assert a.p_value == pytest.approx(150.0) and b.p_value == pytest.approx(150.0)


# --- 4. duplicates ----------------------------------------------------------------------------


@given(histories(min_size=1), st.data())
@PROPERTY
def test_duplicate_event_id_changes_nothing(events: list[Event], data: st.DataObject) -> None:
    states, _ = replay(events)
    again = data.draw(st.sampled_from(events), label="again")
    before = states[again.customer_id].to_bytes()
    state, out = apply_event(states[again.customer_id], again, CFG)
    assert out.duplicate is True
    assert out.score is None and out.alerts == [] and out.evaluation is None
    assert state.to_bytes() == before
    # the same id with a different body is the same event: still skipped
    changed = dataclasses.replace(again, ts=again.ts + DAY)
    state, out = apply_event(states[again.customer_id], changed, CFG)
    assert out.duplicate is True and state.to_bytes() == before
    # the same body under a fresh id is a new event
    state, out = apply_event(states[again.customer_id], with_id(again, "fresh"), CFG)
    assert out.duplicate is False
    assert state.events_seen == states[again.customer_id].events_seen + 1


@given(histories(min_size=1))
@PROPERTY
def test_replaying_a_whole_history_twice_is_a_no_op(events: list[Event]) -> None:
    states, _ = replay(events)
    snapshot = {cid: s.to_bytes() for cid, s in states.items()}
    states, outputs = replay(events, states=states)
    assert all(out.duplicate for out in outputs)
    assert {cid: s.to_bytes() for cid, s in states.items()} == snapshot


def test_same_event_id_for_another_customer_is_not_a_duplicate() -> None:
    states, outputs = replay([interaction(T0, event_id="same"),
                              interaction(T0, customer="c-2", event_id="same")])
    assert not outputs[1].duplicate
    assert states["c-2"].events_seen == 1


def test_dedup_memory_is_bounded() -> None:
    cfg = config_from_mapping({"model": {"dedup_memory": 3}})
    states, _ = replay([interaction(T0 + i, event_id=f"e{i}") for i in range(10)], cfg)
    state = states["c-1"]
    assert [state.remembers(id_digest(f"e{i}")) for i in range(10)] == [False] * 7 + [True] * 3
    assert len(state.recent_ids) == 3 * ID_DIGEST_CHARS
    # The forgotten e0 counts again; a remembered one does not.
    states, outputs = replay([interaction(T0 + i, event_id=f"e{i}") for i in range(10)]
                             + [interaction(T0 + 20, event_id="e9"),
                                interaction(T0 + 21, event_id="e0")], cfg)
    assert [o.duplicate for o in outputs[-2:]] == [True, False]


def test_a_digest_matches_only_on_its_own_boundaries() -> None:
    state = CustomerState(customer_id="c", first_ts=T0, ref_ts=T0)
    for event_id in ("a", "b", "c"):
        state.remember(id_digest(event_id), 128)
    shifted = state.recent_ids[6:18]  # straddles two digests: not a remembered id
    assert not state.remembers(shifted)
    assert all(state.remembers(id_digest(e)) for e in "abc")
    assert not state.remembers(id_digest("d"))


def test_format_1_rows_are_read_with_their_ids_as_digests() -> None:
    state = CustomerState(customer_id="c", first_ts=T0, ref_ts=T0, events_seen=2)
    row = orjson.loads(state.to_bytes())
    row[0] = 1
    row[1 + [f.name for f in dataclasses.fields(CustomerState)].index("recent_ids")] = ["x", "y"]
    old = CustomerState.from_bytes(orjson.dumps(row))
    assert old.remembers(id_digest("x")) and old.remembers(id_digest("y"))
    assert old.events_seen == 2 and orjson.loads(old.to_bytes())[0] == STATE_FORMAT


def test_format_2_rows_are_read_with_no_abandoned_tickets() -> None:
    """Format 3 appended ``s_abandoned``: a row written before it decodes with it at 0."""
    state = CustomerState(customer_id="c", first_ts=T0, ref_ts=T0, events_seen=2, s_late=1.5)
    row = orjson.loads(state.to_bytes())
    assert row[0] == STATE_FORMAT == 4 and row[-2] == 0.0 and row[-1] is None
    old = CustomerState.from_bytes(orjson.dumps([2, *row[1:-2]]))
    assert old == state


def test_format_3_rows_are_read_without_lost_points_and_change_nothing_until_rescored() -> None:
    """Format 4 appended ``lost``: a format-3 row decodes with None, and its next score message
    has an empty change (there is nothing to compare with) but the same score."""
    state, _ = apply_event(None, purchase(T0), CFG)
    row = orjson.loads(state.to_bytes())
    assert row[-1] is not None
    old = CustomerState.from_bytes(orjson.dumps([3, *row[1:-1]]))
    assert old.lost is None
    ticket_event = ticket(T0 + DAY, "t-1", "opened", priority=3)
    _, out_new = apply_event(state, ticket_event, CFG)
    _, out_old = apply_event(old, ticket_event, CFG)
    assert out_old.score is not None and out_new.score is not None
    assert out_old.score["change"] == [] and out_new.score["change"] != []
    assert out_old.score["score"] == out_new.score["score"]


# --- 5. determinism and round trips -----------------------------------------------------------


@given(histories())
@PROPERTY
def test_same_events_give_the_same_outputs_and_state(events: list[Event]) -> None:
    states_a, out_a = replay(events)
    states_b, out_b = replay(events)
    assert published(out_a) == published(out_b)
    assert {c: s.to_bytes() for c, s in states_a.items()} == {
        c: s.to_bytes() for c, s in states_b.items()}


@given(histories(min_size=2), st.data())
@PROPERTY
def test_state_round_trip_and_scoring_continues_identically(
    events: list[Event], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(1, len(events) - 1), label="cut")
    states, head = replay(events[:cut])
    restored = {}
    for cid, state in states.items():
        raw = state.to_bytes()
        back = CustomerState.from_bytes(raw)
        assert back == state
        assert back.to_bytes() == raw
        # the encoding lists every field by hand: it must be the fields in declared order
        assert raw == orjson.dumps([STATE_FORMAT, *(getattr(state, name) for name in _FIELD_NAMES)])
        # what recovery reads of a row without decoding it
        assert schedule_fields(raw) == (state.score, state.next_due, state.ref_ts)
        restored[cid] = back
    _, tail_restored = replay(events[cut:], states=restored)
    uninterrupted_states, uninterrupted = replay(events)
    assert published(head + tail_restored) == published(uninterrupted)
    assert {c: s.to_bytes() for c, s in restored.items()} == {
        c: s.to_bytes() for c, s in uninterrupted_states.items()}
    # decay re-scores continue identically after a round trip too
    for state in uninterrupted_states.values():
        later = state.ref_ts + 45 * DAY
        direct = rescore(state, later, CFG)
        trip = rescore(CustomerState.from_bytes(state.to_bytes()), later, CFG)
        assert direct[0].to_bytes() == trip[0].to_bytes()
        assert published([direct[1]]) == published([trip[1]])


def test_from_bytes_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="format"):
        CustomerState.from_bytes(b"[99]")
    with pytest.raises(ValueError, match="format"):
        CustomerState.from_bytes(b"[]")


def test_scorer_never_mutates_the_state_it_is_given() -> None:
    state, _ = apply_event(None, purchase(T0), CFG)
    before = state.to_bytes()
    apply_event(state, ticket(T0 + DAY, priority=URGENT), CFG)
    apply_event(state, interaction(T0 - DAY, nps=0), CFG)
    rescore(state, T0 + 300 * DAY, CFG)
    assert state.to_bytes() == before


def test_rescore_at_or_before_the_clock_does_nothing() -> None:
    state, _ = apply_event(None, purchase(T0), CFG)
    same, out = rescore(state, T0, CFG)
    assert same is state and out.score is None and out.alerts == []


# --- 6. alerts --------------------------------------------------------------------------------


def fake_evaluation(at: int, score: float) -> Evaluation:
    return Evaluation(as_of=at, score=score, raw_score=score, components={}, confidence=0.5,
                      drivers=())


def run_alerts(scores: Sequence[float], gap_ms: int = 8 * DAY) -> list[list[dict[str, Any]]]:
    """Feed published scores to the alert rules; one step per ``gap_ms`` (no sharp drops),
    for a customer with plenty of evidence."""
    state = CustomerState(customer_id="c-1", first_ts=T0, ref_ts=T0, evidence=20)
    out = []
    previous = None
    for i, score in enumerate(scores):
        at = T0 + i * gap_ms
        out.append(check_alerts(state, fake_evaluation(at, score), score, previous, CFG.alerts))
        previous = score
    return out


def types(alerts: Iterable[list[dict[str, Any]]]) -> list[str]:
    return [a["type"] for step in alerts for a in step]


def test_hovering_around_the_threshold_alerts_once() -> None:
    hover = [61.0, 59.9, 60.1, 58.0, 62.0, 59.0, 61.5, 58.5, 64.9, 59.99, 60.0, 62.0]
    assert types(run_alerts(hover)) == [BELOW_THRESHOLD]


def test_recovery_needs_threshold_plus_hysteresis() -> None:
    steps = run_alerts([70.0, 59.0, 64.9, 65.0, 66.0, 64.0, 60.0, 59.9])
    assert types(steps) == [BELOW_THRESHOLD, RECOVERED, BELOW_THRESHOLD]
    assert steps[1][0]["type"] == BELOW_THRESHOLD
    assert steps[2] == []  # 64.9 is not enough
    assert steps[3][0]["type"] == RECOVERED and steps[3][0]["score"] == 65.0
    assert steps[3][0]["severity"] == "info"
    assert steps[7][0]["type"] == BELOW_THRESHOLD


def test_first_score_below_threshold_alerts_without_a_previous() -> None:
    [[alert]] = run_alerts([12.0])
    assert alert["type"] == BELOW_THRESHOLD
    assert alert["previous_score"] is None


@pytest.mark.parametrize(
    ("score", "severity"),
    [(59.9, "warning"), (40.0, "warning"), (39.9, "critical"), (0.0, "critical")],
)
def test_severity(score: float, severity: str) -> None:
    [[alert]] = run_alerts([score])
    assert alert["severity"] == severity


def test_alert_ids_are_customer_type_and_rfc3339_time() -> None:
    steps = run_alerts([70.0, 50.0])
    [alert] = steps[1]
    at = T0 + 8 * DAY
    assert alert["alert_id"] == f"c-1:below_threshold:{format_ms(at)}"
    assert re.fullmatch(r"c-1:below_threshold:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z",
                        alert["alert_id"])
    assert alert["as_of"] == format_ms(at) == "2026-01-09T00:00:00Z"
    assert alert_id("c-1", "recovered", T0 + 1) == "c-1:recovered:2026-01-01T00:00:00.001Z"
    assert run_alerts([70.0, 50.0]) == steps  # the same crossing, the same id


def test_sharp_drop_within_the_window_even_above_threshold() -> None:
    steps = run_alerts([95.0, 85.0, 79.0], gap_ms=DAY)
    assert types(steps) == [SHARP_DROP]
    assert steps[2][0]["drop"] == 16.0
    assert steps[2][0]["severity"] == "warning"
    # the same fall spread over more than the window is no sharp drop
    assert types(run_alerts([95.0, 85.0, 79.0], gap_ms=4 * DAY)) == []
    # one drop, one alert: the window restarts after it
    assert types(run_alerts([95.0, 79.0, 78.0, 77.0], gap_ms=HOUR)) == [SHARP_DROP]


def satisfaction_only() -> ScoringConfig:
    weights = {name: 1.0 if name == "satisfaction" else 0.0 for name in COMPONENTS}
    # A long half-life: the hovering plan's answers, days apart, must average alike.
    return config_from_mapping({"weights": weights, "model": {"prior_strength": 0},
                                "satisfaction": {"half_life_days": 90.0}})


# (gap before the answer in minutes, NPS answer): the published score hovers about 60.
HOVER_PLAN = [(0, 6), (1, 6), (1, 6), (1, 7), (7200, 5), (1, 7), (1, 4), (7200, 8), (1, 5),
              (1, 8), (7200, 2), (1, 9), (1, 4), (1, 9), (7200, 2), (7200, 10), (1440, 4),
              (7200, 6)]


def test_event_history_hovering_58_to_62_alerts_once_then_recovers_once() -> None:
    cfg = satisfaction_only()
    events, at = [], T0
    for gap, answer in HOVER_PLAN:
        at += gap * 60_000
        events.append(interaction(at, "survey", nps=answer))
    states, outputs = replay(events, cfg)
    scores = [out.score["score"] for out in outputs if out.score is not None]
    assert all(58.0 <= s < 63.0 for s in scores), scores
    crossings = sum(1 for a, b in itertools.pairwise(scores) if (a < 60) != (b < 60))
    assert crossings >= 6
    assert types(out.alerts for out in outputs) == [BELOW_THRESHOLD]

    # promoters lift it: exactly one recovered, at the first score >= 65
    more = [interaction(at + (i + 1) * 60_000, "survey", nps=10) for i in range(12)]
    _, outputs = replay(more, cfg, states)
    recovered = [(out.score, a) for out in outputs for a in out.alerts]
    assert [a["type"] for _, a in recovered] == [RECOVERED]
    lifted = [out.score["score"] for out in outputs if out.score is not None]
    first_high = next(s for s in lifted if s >= 65.0)
    assert recovered[0][1]["score"] == first_high
    assert all(s >= 60.0 for s in lifted)


@given(payloads())
@settings(max_examples=300, deadline=None)
def test_a_new_customers_first_event_never_pages(drawn: tuple[str, dict[str, Any]]) -> None:
    """The score says what the event says; the page waits for evidence, and says so."""
    kind, payload = drawn
    _, out = apply_event(None, decode(kind, payload, "e-0"), CFG)
    assert out.score is not None
    assert out.alerts == []
    held = out.score["score"] < CFG.alerts.threshold
    assert out.score["alert_hold"] == ("thin_evidence" if held else None)


@pytest.mark.parametrize(
    "event",
    [
        ticket(T0, priority=URGENT),
        ticket(T0, status="escalated", priority=URGENT),
        ticket(T0, status="resolved", priority=URGENT, csat=1),
        interaction(T0, "survey", nps=0),
        interaction(T0, "login", nps=0, csat=1, sentiment=-1.0, product="p-1"),
        purchase(T0, 1e6, type="refund"),
        purchase(T0, 0.0),
    ],
)
@pytest.mark.parametrize("segment", [None, "enterprise", "smb"])
def test_one_bad_event_does_not_page_a_new_customer(event: Event, segment: str | None) -> None:
    _, out = apply_event(None, dataclasses.replace(event, segment=segment), CFG)
    assert out.score is not None and out.alerts == []
    if out.score["score"] < 60.0:
        assert out.score["alert_hold"] == "thin_evidence"


def test_the_third_event_of_a_customer_in_trouble_pages_and_the_hold_is_lifted() -> None:
    events = [ticket(T0 + i * HOUR, f"t-{i}", priority=URGENT) for i in range(3)]
    _, outputs = replay(events)
    assert [out.alerts for out in outputs[:2]] == [[], []]
    assert [o.score["alert_hold"] for o in outputs[:2] if o.score] == ["thin_evidence"] * 2
    assert [a["type"] for a in outputs[2].alerts] == [BELOW_THRESHOLD]
    assert outputs[2].alerts[0]["evidence"] == 3
    assert outputs[2].score is not None and outputs[2].score["alert_hold"] is None


def healthy_history() -> list[Event]:
    events: list[Event] = []
    for day in range(120):
        at = T0 + day * DAY
        if day % 7 == 0:
            events.append(purchase(at, 100, product=f"p-{day % 5}"))
        if day % 2 == 0:
            events.append(interaction(at, "meeting" if day % 4 == 0 else "email",
                                      sentiment=0.5, nps=9 if day % 30 == 0 else None,
                                      product=f"p-{day % 5}"))
    events += [ticket(T0 + 100 * DAY, "t-1"), ticket(T0 + 101 * DAY, "t-1", "resolved", csat=5)]
    return events


def test_silence_decays_a_healthy_customer_below_the_threshold() -> None:
    states, outputs = replay(healthy_history())
    assert all(out.alerts == [] for out in outputs)
    state = states["c-1"]
    assert state.score is not None and state.score >= 80
    last = state.ref_ts
    after, out = rescore(state, last + 120 * DAY, CFG)
    assert out.score is not None
    assert out.score["reason"] == "decay"
    assert out.score["score"] < 60
    [alert] = out.alerts
    assert alert["type"] == BELOW_THRESHOLD
    assert alert["alert_id"] == f"c-1:below_threshold:{format_ms(last + 120 * DAY)}"
    details = " | ".join(d["detail"] for d in alert["drivers"])
    assert "no purchase in " in details
    assert "no contact in " in details
    assert after.below
    # nothing new happens on the way down: no second alert, and time never recovers it
    for days in (150, 200, 400):
        after, out = rescore(after, last + days * DAY, CFG)
        assert out.alerts == []


def test_silence_is_noticed_step_by_step_too() -> None:
    states, _ = replay(healthy_history())
    state = states["c-1"]
    alerts = []
    for day in range(1, 121):
        state, out = rescore(state, states["c-1"].ref_ts + day * DAY, CFG)
        alerts += out.alerts
    assert [a["type"] for a in alerts] == [BELOW_THRESHOLD]
    assert state.score is not None and state.score < 60


def test_replay_gives_the_same_alert_ids() -> None:
    events = healthy_history()
    runs = []
    for _ in range(2):
        states, _ = replay(events)
        _, out = rescore(states["c-1"], states["c-1"].ref_ts + 120 * DAY, CFG)
        runs.append([a["alert_id"] for a in out.alerts])
    assert runs[0] == runs[1] and len(runs[0]) == 1


# --- ticket order and the open-ticket cap ---------------------------------------------------


def test_extra_urgent_ticket_at_the_open_ticket_cap() -> None:
    events: list[Event] = [ticket(T0, f"u{i:02d}", priority=URGENT) for i in range(63)]
    ref = T0 + 200 * HOUR
    events += [ticket(ref - 47 * HOUR, "a-high", priority=2), interaction(ref)]
    state = replay(events)[0]["c-1"]
    assert len(state.open_tickets) == CFG.support.max_open_tickets
    after, _ = apply_event(state, ticket(ref, "z-new", priority=URGENT), CFG)
    at = ref + 8 * HOUR
    assert evaluate(after, at, CFG).score <= evaluate(state, at, CFG).score + 1e-9


def test_late_resolution_does_not_depend_on_arrival_order() -> None:
    opened = ticket(T0, "t-1", priority=URGENT)
    resolved = ticket(T0 + 48 * HOUR, "t-1", "resolved", priority=URGENT)
    in_order = replay([interaction(T0), opened, resolved])[0]["c-1"]
    reordered = replay([interaction(T0), resolved, opened])[0]["c-1"]
    assert in_order.s_late == pytest.approx(reordered.s_late)


def test_ticket_age_does_not_depend_on_arrival_order() -> None:
    opened = ticket(T0, "t-1", priority=URGENT)
    escalated = ticket(T0 + 20 * HOUR, "t-1", "escalated", priority=URGENT)
    a = replay([interaction(T0), opened, escalated])[0]["c-1"]
    b = replay([interaction(T0), escalated, opened])[0]["c-1"]
    assert a.open_tickets == b.open_tickets


def test_reopen_then_older_resolution_leaves_the_ticket_open() -> None:
    events = [interaction(T0), ticket(T0, "t-1"), ticket(T0 + DAY, "t-1", "resolved"),
              ticket(T0 + 3 * DAY, "t-1", "reopened")]
    a = replay(events)[0]["c-1"]
    b = replay([events[0], events[1], events[3], events[2]])[0]["c-1"]
    assert set(a.open_tickets) == set(b.open_tickets) == {"t-1"}


@given(histories(kinds=("ticket",), customers=("c-1",), min_size=2, max_size=12), st.data())
@settings(max_examples=100, deadline=None)
def test_ticket_histories_in_any_order_stay_in_range(
    events: list[Event], data: st.DataObject
) -> None:
    # Tickets are order-dependent (see above), but any order must still give valid scores.
    shuffled = data.draw(st.permutations(events))
    for order in (events, shuffled):
        _, outputs = replay(order)
        for out in outputs:
            check_outputs(out)


def test_fully_returned_spend_does_not_depend_on_arrival_order() -> None:
    p1, r1 = purchase(T0, 0.1, event_id="p1"), purchase(T0, 0.1, type="return", event_id="r1")
    p2, r2 = purchase(T0, 0.2, event_id="p2"), purchase(T0, 0.2, type="return", event_id="r2")
    at = T0 + 50 * DAY
    a = evaluate(replay([p1, r1, p2, r2])[0]["c-1"], at, CFG)
    b = evaluate(replay([p1, p2, r1, r2])[0]["c-1"], at, CFG)
    assert a.components == b.components
    assert math.isclose(a.score, b.score, abs_tol=1e-6)


def test_many_overdue_urgent_tickets_page_even_without_other_history() -> None:
    events = [ticket(T0 + i * HOUR, f"t-{i}", priority=URGENT) for i in range(10)]
    states, outputs = replay(events)
    _, out = rescore(states["c-1"], T0 + 3 * DAY, CFG)
    alerts = [a["type"] for o in [*outputs, out] for a in o.alerts]
    assert BELOW_THRESHOLD in alerts


# --- ranking: thin evidence must not reorder customers -----------------------------------------

HEALTH_AND_TROUBLE = {
    "warm vs hostile meeting": (
        lambda ts: interaction(ts, "meeting", sentiment=1.0, event_id="e-pair"),
        lambda ts: interaction(ts, "meeting", sentiment=-1.0, event_id="e-pair")),
    "promoter vs detractor": (
        lambda ts: interaction(ts, "survey", nps=10, csat=5, event_id="e-pair"),
        lambda ts: interaction(ts, "survey", nps=0, csat=1, event_id="e-pair")),
    "low vs urgent ticket": (
        lambda ts: ticket(ts, "t-pair", priority=0, event_id="e-pair"),
        lambda ts: ticket(ts, "t-pair", priority=URGENT, event_id="e-pair")),
    "happy vs unhappy resolution": (
        lambda ts: ticket(ts, "t-pair", "resolved", csat=5, event_id="e-pair"),
        lambda ts: ticket(ts, "t-pair", "resolved", csat=1, event_id="e-pair")),
}


@given(single_customer_histories(min_size=0), st.sampled_from(sorted(HEALTH_AND_TROUBLE)),
       st.data())
@PROPERTY
def test_evidence_of_health_never_ranks_below_the_same_history_with_trouble(
    events: list[Event], pair: str, data: st.DataObject,
) -> None:
    states, _ = replay(events)
    base = states.get("c-1")
    start = T0 if base is None else base.first_ts
    ts = data.draw(st.integers(start, start + 60 * DAY), label="ts")
    healthy_event, trouble_event = HEALTH_AND_TROUBLE[pair]
    healthy, _ = apply_event(base, healthy_event(ts), CFG)
    troubled, _ = apply_event(base, trouble_event(ts), CFG)
    at = max(healthy.ref_ts, troubled.ref_ts) + data.draw(st.integers(0, 200 * DAY), label="dt")
    assert evaluate(healthy, at, CFG).score >= evaluate(troubled, at, CFG).score - 1e-9


@given(single_customer_histories(min_size=1), st.integers(0, 60 * DAY))
@PROPERTY
def test_ticket_csat_only_ever_takes_support_points_away(events: list[Event], dt: int) -> None:
    """Happy answers on resolved tickets never offset tickets left open or late: support with
    its ticket CSAT is at most what the tickets alone leave it."""
    state = replay(events)[0]["c-1"]
    at = state.ref_ts + dt
    with_csat = support_component(state, at, CFG)
    without = state.copy()
    without.s_csat_sum = without.s_csat_n = 0.0
    tickets_alone = support_component(without, at, CFG)
    if with_csat is None or tickets_alone is None:
        assert with_csat is tickets_alone is None
        return
    assert with_csat.score <= tickets_alone.score + 1e-9


@given(single_customer_histories(min_size=1), single_customer_histories(min_size=1),
       st.integers(0, 300 * DAY))
@PROPERTY
def test_scores_rank_customers_as_their_data_does_whatever_the_evidence(
    one: list[Event], other: list[Event], dt: int,
) -> None:
    """No shrinkage remains: the published score is the composite of the customer's own data,
    so two customers, one with little evidence and one with much, keep their data's order."""
    a, b = replay(one)[0]["c-1"], replay(other)[0]["c-1"]
    at = max(a.ref_ts, b.ref_ts) + dt
    ea, eb = evaluate(a, at, CFG), evaluate(b, at, CFG)
    for evaluation in (ea, eb):
        assert evaluation.raw_score is None or evaluation.score == evaluation.raw_score
    if ea.raw_score is not None and eb.raw_score is not None:
        assert (ea.score > eb.score) == (ea.raw_score > eb.raw_score)


def test_the_event_that_lifts_the_hold_publishes_and_pages_even_if_the_score_stands() -> None:
    """Returns of nothing move no component, but are evidence: the third one must still be
    published, so that the alert the hold kept back goes out."""
    events = [ticket(T0, "t-1", priority=URGENT),
              purchase(T0 + HOUR, 0.0, type="return"), purchase(T0 + 2 * HOUR, 0.0, type="return")]
    _, outputs = replay(events)
    assert outputs[0].score is not None and outputs[0].score["alert_hold"] == "thin_evidence"
    assert outputs[1].score is None  # nothing changed that a consumer could see
    assert outputs[2].score is not None and outputs[2].score["alert_hold"] is None
    assert [a["type"] for a in outputs[2].alerts] == [BELOW_THRESHOLD]


def test_a_component_appearing_is_new_information_not_a_sharp_drop() -> None:
    """Three warm meetings, then a first purchase: depth appears at 1 of 4 products and the
    composite falls, but nothing was lost. A fall with the same components is a drop."""
    cfg = config_from_mapping({"alerts": {"sharp_drop_points": 5}})
    meetings = [interaction(T0 + i * HOUR, "meeting", sentiment=0.8) for i in range(3)]
    states, outputs = replay([*meetings, purchase(T0 + 4 * HOUR, 100.0)], cfg)
    first = outputs[-1]
    assert first.score is not None and first.score["previous_score"] is not None
    assert first.score["previous_score"] - first.score["score"] >= 5
    assert [a["type"] for a in first.alerts] == []
    # A first urgent ticket brings support in (no drop either); more urgent tickets with the
    # same components are a fall of 5 points and more within the window: a sharp drop.
    tickets = [ticket(T0 + (5 + i) * HOUR, f"t-{i}", priority=URGENT) for i in range(4)]
    _, later = replay(tickets, cfg, states)
    assert later[0].alerts == []
    assert SHARP_DROP in [a["type"] for out in later[1:] for a in out.alerts]
