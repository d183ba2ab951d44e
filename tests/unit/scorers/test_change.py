"""The ``change`` of score messages and alerts: what moved the score, and by how much."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from scorers.config import COMPONENTS, DEFAULT_CONFIG
from scorers.events import Event
from scorers.scorer import apply_event, rescore
from scorers.state import CustomerState
from tests.support.strategies import DAY, HOUR, T0, purchase, single_customer_histories, ticket

CFG = DEFAULT_CONFIG
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# Each entry is rounded to a tenth, each kept share to a hundredth, both scores to a tenth, and
# a component whose share moved less than a tenth is left out.
TOLERANCE = 0.05 * len(COMPONENTS) + 0.02 * len(COMPONENTS) + 0.1 + 0.1 * len(COMPONENTS)


def messages_of(events: list[Event]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every (score message, alerts) a customer's events publish, with a decay re-score 20
    days after each event so that time alone moves the score too."""
    state: CustomerState | None = None
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for event in sorted(events, key=lambda e: e.ts):
        state, step = apply_event(state, event, CFG)
        if step.score is not None:
            out.append((step.score, step.alerts))
        state, later = rescore(state, state.ref_ts + 20 * DAY, CFG)
        if later.score is not None:
            out.append((later.score, later.alerts))
    return out


@given(single_customer_histories(max_size=25))
@PROPERTY
def test_the_entries_add_up_to_the_score_move(events: list[Event]) -> None:
    for message, _ in messages_of(events):
        change = message["change"]
        if message["previous_score"] is None:
            assert change == []
            continue
        moved = message["score"] - message["previous_score"]
        total = sum(entry["points"] for entry in change)
        assert abs(total - moved) <= TOLERANCE, (moved, change)


@given(single_customer_histories(max_size=25))
@PROPERTY
def test_entries_are_well_formed_largest_first_and_alerts_carry_them(
        events: list[Event]) -> None:
    for message, alerts in messages_of(events):
        change = message["change"]
        sizes = [abs(entry["points"]) for entry in change]
        assert sizes == sorted(sizes, reverse=True)
        names = [entry["component"] for entry in change]
        assert len(set(names)) == len(names) and set(names) <= set(COMPONENTS)
        for entry in change:
            assert abs(entry["points"]) >= 0.1
            assert entry["to"] == message["components"][entry["component"]]
            assert entry["text"].startswith(f"{entry['points']:+.1f}: {entry['component']} ")
        for alert in alerts:
            assert alert["change"] == change


def test_an_urgent_ticket_past_its_sla_is_named_as_the_fall() -> None:
    state, _ = apply_event(None, purchase(T0, product="crm"), CFG)
    state, _ = apply_event(state, purchase(T0 + DAY, product="billing"), CFG)
    state, opened = apply_event(state, ticket(T0 + 2 * DAY, "t-1", "opened", priority=3), CFG)
    assert opened.score is not None
    state, late = rescore(state, T0 + 2 * DAY + 30 * HOUR, CFG)
    message = late.score
    assert message is not None and message["score"] < message["previous_score"]
    first = message["change"][0]
    assert first["component"] == "support" and first["points"] < 0
    assert "urgent ticket open past SLA" in first["detail"]
    assert first["text"].startswith(f"{first['points']:+.1f}: support ")


def test_the_same_events_give_the_same_change() -> None:
    events = [purchase(T0, product="crm"), ticket(T0 + DAY, "t-1", "opened", priority=3),
              ticket(T0 + 3 * DAY, "t-1", "resolved", priority=3, csat=2)]
    assert messages_of(events) == messages_of(list(events))
    changes = [message["change"] for message, _ in messages_of(events)]
    assert changes[0] == [] and any(changes[1:])
