"""Acknowledge and snooze: the requests refused, the actions' codec, the state they add up to."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.alert_actions import (
    ACK,
    SNOOZE,
    ActionBook,
    ActionError,
    AlertAction,
    customer_of,
    new_action,
)

ALERT = "acme:eu-1:below_threshold:2026-11-20T10:00:00Z"
HOUR = 3_600_000


@pytest.mark.parametrize(("action", "alert_id", "until", "by", "message"), [
    (ACK, "acme-1", None, None, "is not an alert id"),
    (ACK, "acme:fell:2026-11-20T10:00:00Z", None, None, "is not an alert id"),
    (SNOOZE, ALERT, None, None, "snooze needs until="),
    (SNOOZE, ALERT, "tomorrow", None, "give an RFC 3339 time"),
    (SNOOZE, ALERT, "2026-01-01T00:00:00Z", None, "is not in the future"),
    (SNOOZE, ALERT, "31d", None, "more than 30 days ahead"),
    (ACK, ALERT, None, "x" * 101, "by: 1 to 100 characters"),
])
def test_a_bad_request_is_refused_saying_what_to_send(
        action: str, alert_id: str, until: str | None, by: str | None, message: str) -> None:
    with pytest.raises(ActionError, match=message):
        new_action(action, alert_id, 1_790_000_000_000, until=until, by=by)


def test_the_customer_comes_from_the_alert_id_even_with_colons_in_it() -> None:
    assert customer_of(ALERT) == "acme:eu-1"
    assert customer_of("c-1:recovered:2026-07-14T00:00:00.250Z") == "c-1"


actions = st.builds(
    AlertAction,
    action=st.sampled_from([ACK, SNOOZE]),
    alert_id=st.sampled_from([ALERT, "c-2:sharp_drop:2026-11-21T00:00:00Z"]),
    customer_id=st.just("x"),
    at_ms=st.integers(0, 10 * HOUR).map(lambda ms: ms - ms % 1000),
    until_ms=st.integers(HOUR, 40 * HOUR).map(lambda ms: ms - ms % 1000),
    by=st.none() | st.text("abcdef ", min_size=1, max_size=8),
)


@given(actions)
def test_an_action_survives_its_topic_record(action: AlertAction) -> None:
    assert AlertAction.from_json(action.to_json()) == action


@given(st.lists(actions, max_size=12))
def test_applying_the_actions_again_changes_nothing(taken: list[AlertAction]) -> None:
    """At-least-once: applying an action again (a redelivery, a restart reading the topic
    from its start) changes nothing."""
    once, twice = ActionBook(), ActionBook()
    for action in taken:
        once.apply(action)
    for action in taken + taken:
        twice.apply(action)
    for alert_id in (ALERT, "c-2:sharp_drop:2026-11-21T00:00:00Z"):
        for now in (0, 5 * HOUR, 50 * HOUR):
            assert once.state(alert_id, now) == twice.state(alert_id, now)
    assert once.snoozed_until("x", 0) == twice.snoozed_until("x", 0)


def test_the_latest_snooze_decides_and_an_ack_shows_who_and_when() -> None:
    book = ActionBook()
    book.apply(new_action(SNOOZE, ALERT, 0, until="2d"))
    book.apply(new_action(SNOOZE, ALERT, HOUR, until="1h"))  # shortened an hour later
    assert book.snoozed_until("acme:eu-1", HOUR) == 2 * HOUR
    assert book.snoozed_until("acme:eu-1", 2 * HOUR) is None
    book.apply(new_action(ACK, ALERT, 3 * HOUR, by="ana"))
    assert book.state(ALERT, 3 * HOUR) == {
        "state": "acknowledged", "acknowledged_at": "1970-01-01T03:00:00Z",
        "acknowledged_by": "ana", "snoozed_until": None}
    with pytest.raises(ActionError, match="not an alert action"):
        AlertAction.from_json(b'{"action": "forget", "alert_id": "a"}')
