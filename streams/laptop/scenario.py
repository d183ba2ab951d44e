"""A scripted, deterministic customer history: the demo's and the tests' common ground.

Personas: ``loyal`` customers buy and meet regularly and are happy; ``slipping`` ones buy less
and less and start complaining; ``churning`` ones stop buying while urgent tickets pile up and
their NPS turns detractor; ``newcomer`` ones send a single bad event (which must not page anyone).
Every event is a dict with a ``topic`` field, as in an event file.
"""

from __future__ import annotations

from typing import Any

from scorers.config import DAY_MS, HOUR_MS

# 2026-06-01T00:00:00Z: histories are fixed in time so that they replay identically.
EPOCH_MS = 1_780_272_000_000

Event = dict[str, Any]


def _purchase(cid: str, n: int, ts: int, amount: float, product: str, **extra: Any) -> Event:
    return {"topic": "purchases", "event_id": f"{cid}-p{n}", "customer_id": cid, "ts": ts,
            "order_id": f"{cid}-o{n}", "amount": amount, "product_id": product, **extra}


def _touch(cid: str, n: int, ts: int, channel: str, **extra: Any) -> Event:
    return {"topic": "interactions", "event_id": f"{cid}-i{n}", "customer_id": cid, "ts": ts,
            "channel": channel, **extra}


def _ticket(cid: str, n: int, ts: int, ticket: str, status: str, **extra: Any) -> Event:
    return {"topic": "support-tickets", "event_id": f"{cid}-t{n}", "customer_id": cid, "ts": ts,
            "ticket_id": ticket, "status": status, **extra}


def healthy_history(cid: str, days: int = 120, start_ms: int = EPOCH_MS) -> list[Event]:
    """A good customer: purchases every 10 days over 3 products, weekly meetings, NPS 9."""
    events: list[Event] = []
    for n, day in enumerate(range(0, days, 10)):
        events.append(_purchase(cid, n, start_ms + day * DAY_MS + 9 * HOUR_MS, 250.0 + n,
                                f"product-{n % 4}"))
    for n, day in enumerate(range(2, days, 7)):
        extra: dict[str, Any] = {"sentiment": 0.6, "direction": "outbound"}
        if n % 6 == 0:
            extra["nps"] = 9
        events.append(_touch(cid, n, start_ms + day * DAY_MS + 14 * HOUR_MS, "meeting", **extra))
    return events


def complaints(cid: str, start_ms: int) -> list[Event]:
    """A churning customer's conversations turn sour: angry chats and a detractor survey."""
    events: list[Event] = []
    for n, day in enumerate((0, 6, 13, 20)):
        events.append(_touch(cid, 100 + n, start_ms + day * DAY_MS, "chat",
                             direction="inbound", sentiment=-0.8))
    events.append(_touch(cid, 110, start_ms + 21 * DAY_MS, "survey", nps=1, csat=1))
    return events


def ticket_storm(cid: str, start_ms: int) -> list[Event]:
    """Then urgent tickets pile up and one is escalated."""
    events: list[Event] = []
    for n in range(4):
        ts = start_ms + n * 12 * HOUR_MS
        events.append(_ticket(cid, n, ts, f"{cid}-T{n}", "opened", priority="urgent"))
    events.append(_ticket(cid, 10, start_ms + 3 * DAY_MS, f"{cid}-T0", "escalated",
                          priority="urgent"))
    return events


def scripted_population(loyal: int = 3, churning: int = 2, newcomers: int = 1,
                        days: int = 120) -> list[list[Event]]:
    """Phases of events: everyone's healthy history, then the churners' complaints (one
    topic), then their ticket storm (one topic).

    Each phase is sorted by event time. Phases after the first come from one topic each, so
    a consumer that finishes one phase before the next sees every customer's events in the
    same order as the offline scorer, which makes alerts exactly comparable.
    """
    healthy: list[Event] = []
    for i in range(loyal):
        healthy += healthy_history(f"loyal-{i}", days)
    for i in range(churning):
        healthy += healthy_history(f"churning-{i}", days)
    for i in range(newcomers):
        cid = f"newcomer-{i}"
        healthy.append(_ticket(cid, 0, EPOCH_MS + (days - 1) * DAY_MS, f"{cid}-T0", "opened",
                               priority="urgent"))
    end = EPOCH_MS + days * DAY_MS
    sour = [e for i in range(churning) for e in complaints(f"churning-{i}", end)]
    storm = [e for i in range(churning) for e in ticket_storm(f"churning-{i}", end + 25 * DAY_MS)]
    phases = [healthy, sour, storm]
    for phase in phases:
        phase.sort(key=lambda e: (e["ts"], e["event_id"]))
    return phases
