"""The demo's closing summary is a pure function of the output messages and the run's facts."""

from __future__ import annotations

from typing import Any

from streams.laptop.demo import RunFacts, build_summary, path_text, score_path, summary_lines

FACTS = RunFacts(customers=3, days=60, start="2026-06-01", end="2026-07-30", sent=1200,
                 late=20, duplicates=10, malformed=3, produce_seconds=8.0, scored_seconds=10.0,
                 max_backlog=42)


def score(cid: str, value: float, as_of: str, band: str) -> dict[str, Any]:
    return {"customer_id": cid, "score": value, "band": band, "as_of": as_of}


def alert(cid: str, kind: str, value: float, was: float, as_of: str) -> dict[str, Any]:
    return {"alert_id": f"{cid}:{kind}:{as_of}", "type": kind, "customer_id": cid,
            "severity": "info" if kind == "recovered" else "warning", "score": value,
            "previous_score": was, "band": "fair", "as_of": as_of,
            "drivers": [{"component": "support", "detail": f"{cid} has urgent tickets"}]}


SCORES = [
    score("a", 90.0, "2026-06-01T10:00:00Z", "excellent"),
    score("b", 85.0, "2026-06-01T11:00:00Z", "excellent"),
    score("b", 80.0, "2026-06-10T11:00:00Z", "excellent"),
    score("b", 71.0, "2026-06-20T11:00:00Z", "good"),
    score("b", 58.4, "2026-06-25T11:00:00Z", "fair"),
    score("b", 44.0, "2026-07-20T11:00:00Z", "fair"),
    score("c", 62.0, "2026-06-02T10:00:00Z", "good"),
    score("c", 59.0, "2026-06-05T10:00:00Z", "fair"),
    score("c", 66.0, "2026-07-05T10:00:00Z", "good"),
    score("a", 92.5, "2026-07-01T10:00:00Z", "excellent"),
]
ALERTS = [
    alert("c", "recovered", 66.0, 61.0, "2026-07-05T10:00:00Z"),
    alert("b", "below_threshold", 58.4, 71.0, "2026-06-25T11:00:00Z"),
    alert("c", "below_threshold", 59.0, 62.0, "2026-06-05T10:00:00Z"),
]


def test_bands_alerts_and_at_risk_come_from_the_latest_messages() -> None:
    summary = build_summary(SCORES, ALERTS, FACTS, personas={"a": "loyal", "b": "churning",
                                                              "c": "recovering"})
    assert summary.customers == 3
    assert summary.bands == {"excellent": 1, "good": 1, "fair": 1, "poor": 0}
    assert [a["alert_id"] for a in summary.alerts] == [
        "c:below_threshold:2026-06-05T10:00:00Z",
        "b:below_threshold:2026-06-25T11:00:00Z",
        "c:recovered:2026-07-05T10:00:00Z",
    ]
    assert summary.alert_types == {"below_threshold": 2, "recovered": 1}
    assert summary.at_risk == [("b", 44.0)]
    assert [c.customer_id for c in summary.alerted] == ["b", "c"]  # lowest score first
    b = summary.alerted[0]
    assert b.score == 44.0 and b.band == "fair" and b.persona == "churning"
    assert b.drivers == [{"component": "support", "detail": "b has urgent tickets"}]
    assert summary.persona_alerts == {"loyal": (0, 0, 1), "churning": (1, 0, 1),
                                      "recovering": (1, 1, 1)}
    assert summary.events_per_second == 120.0


def test_the_score_path_keeps_one_score_a_fortnight_and_every_alert() -> None:
    b = [m for m in SCORES if m["customer_id"] == "b"]
    b_alerts = [a for a in ALERTS if a["customer_id"] == "b"]
    path = score_path(b, b_alerts)
    assert [(s, marked) for _, s, marked in path] == [
        (85.0, False), (80.0, False), (58.4, True), (44.0, False)]
    assert path_text(path) == "85 -> 80 -> 58.4* -> 44"
    assert score_path([], []) == []


def test_the_printed_summary_names_the_numbers_a_lead_needs() -> None:
    lines = summary_lines(build_summary(SCORES, ALERTS, FACTS, personas=None))
    text = "\n".join(lines)
    assert "Scored 1,200 messages from 3 customers" in text
    assert "120 events/s" in text
    assert "at most 42 messages waiting" in text
    assert "Customers per band now: excellent 1, good 1, fair 1, poor 0" in text
    assert "Alerts: 3 (2 fell below 60, 0 sharp drops, 1 recovered) for 2 customers" in text
    assert "score path: 85 -> 80 -> 58.4* -> 44" in text
    assert "why: b has urgent tickets" in text
    assert "At risk now (below 60, lowest first): b (44.0)" in text
    assert "simulation's truth" not in text
