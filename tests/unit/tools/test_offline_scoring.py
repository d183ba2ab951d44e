"""``relscore score --as-of``: the file valued at one event time, as a live worker whose clock
has reached it would value it."""

from __future__ import annotations

from typing import Any

import orjson

from scorers.config import DAY_MS, DEFAULT_CONFIG
from scorers.timefmt import format_ms
from streams.laptop.scenario import EPOCH_MS, healthy_history, scripted_population
from streams.tools.offline_scoring import AFTER_AS_OF, AS_OF, OfflineResult, score_lines
from tests.support.fault_harness import clock_customer, clock_event

PARTITIONS = 4
LATENESS_MS = 60_000
TOPICS = ("purchases", "support-tickets", "interactions")


def lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(event) for event in sorted(events, key=lambda e: e["ts"])]


def score(events: list[dict[str, Any]], as_of_ms: int | None = None) -> OfflineResult:
    return score_lines(lines(events), DEFAULT_CONFIG, reference_ms=None,
                       partitions=PARTITIONS, allowed_lateness_ms=LATENESS_MS,
                       as_of_ms=as_of_ms)


def population() -> list[dict[str, Any]]:
    healthy, sour, storm = scripted_population(loyal=3, churning=2, newcomers=1)
    # Loyal customers who then fall silent: only time can page them.
    silent = [e for cid in ("quiet-1", "quiet-2") for e in healthy_history(cid, days=60)]
    return [*healthy, *sour, *storm, *silent]


def test_every_customer_is_valued_at_the_as_of_time() -> None:
    events = population()
    as_of = EPOCH_MS + 200 * DAY_MS
    result = score(events, as_of)
    customers = {e["customer_id"] for e in events}
    assert set(result.scores) == customers
    assert {m["as_of"] for m in result.scores.values()} == {format_ms(as_of)}
    assert {m["reason"] for m in result.scores.values()} == {AS_OF}


def test_events_after_the_as_of_time_are_rejected_with_their_own_reason() -> None:
    events = population()
    as_of = EPOCH_MS + 30 * DAY_MS
    later = [e for e in events if e["ts"] > as_of]
    result = score(events, as_of)
    assert later and len(result.rejects) == len(later)
    assert {r["reason"] for r in result.rejects} == {AFTER_AS_OF}
    assert all(m["as_of"] == format_ms(as_of) for m in result.scores.values())


def test_time_driven_alerts_fire_as_they_would_on_a_live_clock() -> None:
    """Valuing at T gives the alerts a live worker gives once every partition's clock has
    reached T: here, the same file followed by one event per partition and topic at T plus the
    allowed lateness, which moves the stream's clocks there."""
    events = population()
    as_of = EPOCH_MS + 200 * DAY_MS
    offline = score(events, as_of)
    clocks = [clock_event(clock_customer("c-", 0, p, topic, PARTITIONS), topic,
                          as_of + LATENESS_MS)
              for p in range(PARTITIONS) for topic in TOPICS]
    live = score([*events, *clocks])

    def alerts_up_to_t(result: OfflineResult) -> list[tuple[str, str, str]]:
        return sorted((a["customer_id"], a["type"], a["as_of"]) for a in result.alerts
                      if not a["customer_id"].startswith("c-clock")
                      and a["as_of"] <= format_ms(as_of))

    assert alerts_up_to_t(offline) == alerts_up_to_t(live)
    silent_alerts = [a for a in offline.alerts if a["customer_id"].startswith("quiet-")]
    assert {a["type"] for a in silent_alerts} >= {"below_threshold"}, "silence must page by T"


def test_without_as_of_nothing_changes() -> None:
    events = population()
    plain = score(events)
    assert {m["reason"] for m in plain.scores.values()} <= {"event", "decay"}
    assert plain.rejects == []
