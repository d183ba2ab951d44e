"""Score history on the real stack: 120 days of events through a worker, then the history,
population, search and at-risk endpoints against the score and alert topics, and the Redis
memory per customer."""

from __future__ import annotations

import asyncio
import random
import urllib.parse
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from scorers.config import DAY_MS, HOUR_MS
from scorers.timefmt import format_ms, parse_rfc3339_ms
from streams.laptop.scenario import EPOCH_MS, complaints, healthy_history, ticket_storm
from streams.laptop.worker_process import WorkerProcess
from streams.runtime.history import (
    HISTORY_DAYS,
    MAX_ALERTS,
    alert_member,
    alerts_key,
    encode_point,
    history_key,
    put_point,
)
from streams.runtime.owner_directory import Owner
from streams.runtime.projector import Scripts, customer_key, write_history
from streams.settings import Settings
from streams.tools.topic_reader import read_all, wait_caught_up
from tests.integration.test_serving import get_json
from tests.support.notify_support import wait_until
from tests.support.stack_fixtures import EventProducer

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]
DAYS = 120
# What one customer's history, alerts and latest-score hash may take in Redis (design.md 4.4).
BOUND_120 = 40_000
BOUND_400 = 80_000
BOUND_FULL = 160_000


def daily_touches(cid: str, days: int) -> list[dict[str, Any]]:
    """An email every day at 17:00, so that every day of the history has a score."""
    return [{"topic": "interactions", "event_id": f"{cid}-d{day}", "customer_id": cid,
             "ts": EPOCH_MS + day * DAY_MS + 17 * HOUR_MS, "channel": "email",
             "direction": "outbound", "sentiment": 0.2} for day in range(days)]


def history_script(chunk_days: int = 10) -> list[list[dict[str, Any]]]:
    """Two loyal and two churning customers over 120 days, then the churners turn sour.

    Phases of ``chunk_days`` days each: the worker reads its input topics in its own order,
    and an event read after a later one of another topic is late (it moves no as_of), so
    sending it all at once could fold many days into one; a phase at a time keeps them."""
    healthy: list[dict[str, Any]] = []
    for cid in ("loyal-0", "loyal-1", "churning-0", "churning-1"):
        healthy += healthy_history(cid, DAYS) + daily_touches(cid, DAYS)
    sour_start = EPOCH_MS + (DAYS - 30) * DAY_MS  # sour in the last month: the window sees it
    sour = [e for cid in ("churning-0", "churning-1") for e in complaints(cid, sour_start)]
    sour += [e for cid in ("churning-0", "churning-1")
             for e in ticket_storm(cid, sour_start + DAY_MS)]
    events = healthy + sour
    phases = [[e for e in events if start <= (e["ts"] - EPOCH_MS) // DAY_MS < start + chunk_days]
              for start in range(0, DAYS, chunk_days)]
    for phase in phases:
        phase.sort(key=lambda e: (e["ts"], e["event_id"]))
    return phases


def expected_days(scores: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each customer's last score message of each UTC day, oldest day first."""
    by_day: dict[str, dict[int, dict[str, Any]]] = {}
    for message in scores:  # topic order is per-customer order
        day = parse_rfc3339_ms(message["as_of"]) // DAY_MS
        by_day.setdefault(message["customer_id"], {})[day] = message
    return {c: [days[d] for d in sorted(days)] for c, days in by_day.items()}


def memory(settings: Settings, customer: str) -> int:
    client = redis.Redis.from_url(settings.redis.url)
    try:
        prefix = settings.redis.prefix
        keys = (history_key(prefix, customer), alerts_key(prefix, customer),
                customer_key(prefix, customer))
        return sum(client.memory_usage(key) or 0 for key in keys)
    finally:
        client.close()


def memory_for_days(settings: Settings, message: dict[str, Any], days: int,
                    alert: dict[str, Any] | None = None) -> int:
    """MEMORY USAGE of a history of ``days`` points like ``message``, put by the script, plus,
    with ``alert``, of :data:`MAX_ALERTS` alerts like it."""
    async def put() -> int:
        client = aioredis.Redis.from_url(settings.redis.url)
        scripts = Scripts(client)
        prefix = settings.redis.prefix + "sizing:"
        start = parse_rfc3339_ms(message["as_of"])
        points = {}
        for day in range(days):
            _, _, element = encode_point({**message, "as_of": format_ms(start + day * DAY_MS)})
            points[("c", int(element[:5]))] = element
        alerts = {}
        for n in range(MAX_ALERTS if alert else 0):
            as_of = format_ms(start + n * DAY_MS)
            copy = {**(alert or {}), "alert_id": f"c:below_threshold:{as_of}", "as_of": as_of}
            ms, alert_id, member = alert_member(copy)
            alerts[alert_id] = ("c", ms, member)
        async with client.pipeline(transaction=False) as pipe:
            await write_history(pipe, scripts, prefix, points, alerts)
            await pipe.execute()
        keys = (history_key(prefix, "c"), alerts_key(prefix, "c"))
        size = sum([int(await client.memory_usage(key) or 0) for key in keys])
        await client.delete(*keys)
        await client.aclose()
        return size
    return asyncio.run(put())


def check_changes(scores: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> None:
    """The worker's ``change``: it names components whose value moved, adds up to the score's
    move, and the urgent tickets of the churning customers show as a fall of support."""
    by_step: dict[tuple[str, str], list[Any]] = {}
    for m in scores:
        by_step.setdefault((m["customer_id"], m["as_of"]), []).append(m["change"])
    support_falls = []
    for message in scores:
        change = message["change"]
        if message["previous_score"] is None:
            assert change == [], message
            continue
        moved = message["score"] - message["previous_score"]
        assert abs(sum(e["points"] for e in change) - moved) <= 1.0, message
        for entry in change:
            assert entry["to"] == message["components"][entry["component"]]
            assert entry["text"].startswith(f"{entry['points']:+.1f}: {entry['component']} ")
        support_falls += [e for e in change if e["component"] == "support" and e["points"] < 0
                          and "urgent" in e["detail"]]
    assert support_falls, "no score message named support's fall under urgent tickets"
    for alert in alerts:
        assert alert["change"] in by_step[(alert["customer_id"], alert["as_of"])], alert


def test_history_population_search_and_at_risk_after_120_days(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    worker = start_worker(settings)
    produce.raw(settings.topics.owners, Owner("churning-0", "Ana Lima", None, None).to_json(),
                key=b"churning-0")
    for phase in history_script():
        produce.events(phase)
        wait_caught_up(settings)
    scores = read_all(settings, settings.topics.scores)
    alerts = read_all(settings, settings.topics.alerts)
    expected = expected_days(scores)
    assert set(expected) == {"loyal-0", "loyal-1", "churning-0", "churning-1"}
    check_changes(scores, alerts)

    def history(cid: str, days: int) -> dict[str, Any]:
        status, body = get_json(f"{worker.url}/customers/{urllib.parse.quote(cid)}/history"
                                f"?days={days}")
        assert status == 200, body
        return body

    def converged() -> bool:
        return all(len(history(c, HISTORY_DAYS)["points"]) == len(points)
                   and history(c, HISTORY_DAYS)["points"][-1]["as_of"] == points[-1]["as_of"]
                   for c, points in expected.items())

    wait_until(converged, "the history endpoint holds every day of the score topic")
    for cid, messages in expected.items():
        body = history(cid, HISTORY_DAYS)
        # one point per day that had a score message
        assert len(messages) >= DAYS * 3 // 4, (cid, len(messages))
        assert [(p["as_of"], p["score"], p["band"], p["components"]) for p in body["points"]] \
            == [(m["as_of"], m["score"], m["band"], m["components"]) for m in messages]
        theirs = {a["alert_id"]: a for a in alerts if a["customer_id"] == cid}
        assert [a["alert_id"] for a in body["alerts"]] == [
            i for i, _ in sorted(theirs.items(), key=lambda item: (
                parse_rfc3339_ms(item[1]["as_of"]), item[0]))]
        # A window: the 30 days up to the latest point.
        window = history(cid, 30)
        last = parse_rfc3339_ms(messages[-1]["as_of"]) // DAY_MS
        assert [p["as_of"] for p in window["points"]] == [
            m["as_of"] for m in messages if parse_rfc3339_ms(m["as_of"]) // DAY_MS > last - 30]
    assert any(history(c, HISTORY_DAYS)["alerts"] for c in ("churning-0", "churning-1"))

    for bad, code in (("days=0", "bad_days"), ("days=431", "bad_days"), ("days=x", "bad_days")):
        status, body = get_json(f"{worker.url}/customers/loyal-0/history?{bad}")
        assert (status, body["error"]) == (400, code) and "1..430" in body["detail"], body
    status, body = get_json(f"{worker.url}/customers/nobody/history")
    assert (status, body["error"]) == (404, "unknown_customer")

    status, body = get_json(f"{worker.url}/population?days=400")
    assert status == 200, body
    assert body["bands"] == ["excellent", "good", "fair", "poor"]
    assert len(body["days"]) >= DAYS - 1
    assert [d["day"] for d in body["days"]] == sorted(d["day"] for d in body["days"])
    assert all(sum(d["counts"].values()) <= 4 for d in body["days"])
    assert sum(sum(d["counts"].values()) for d in body["days"][-1:]) == 4
    assert sum(b["count"] for b in body["histogram"]) == 4 and len(body["histogram"]) == 10
    status, body = get_json(f"{worker.url}/population?days=0")
    assert (status, body["error"]) == (400, "bad_days")

    status, body = get_json(f"{worker.url}/search?q=churn&limit=10")
    assert status == 200, body
    assert [c["customer_id"] for c in body["customers"]] == ["churning-0", "churning-1"]
    status, body = get_json(f"{worker.url}/search?q=loyal&limit=1")
    assert [c["customer_id"] for c in body["customers"]] == ["loyal-0"]
    status, body = get_json(f"{worker.url}/search?q=x&limit=101")
    assert (status, body["error"]) == (400, "bad_limit")

    def at_risk() -> list[dict[str, Any]]:
        status, body = get_json(f"{worker.url}/at-risk?limit=10")
        assert status == 200, body
        rows: list[dict[str, Any]] = body["customers"]
        return rows

    wait_until(lambda: any(r["owner"] == "Ana Lima" for r in at_risk()),
               "the at-risk list names the owner from the owners topic")
    rows = {r["customer_id"]: r for r in at_risk()}
    assert set(rows) == {"churning-0", "churning-1"}
    for cid, row in rows.items():
        latest = expected[cid][-1]
        assert row["segment"] == latest.get("segment")
        assert 1 <= len(row["spark"]) <= 90
        assert row["spark"][-1] == [latest["as_of"], latest["score"]]
        cutoff = parse_rfc3339_ms(latest["as_of"]) - 7 * DAY_MS
        before = [m for m in expected[cid] if parse_rfc3339_ms(m["as_of"]) <= cutoff][-1]
        assert row["change_7d"] == round(latest["score"] - before["score"], 1)
        assert row["change_30d"] is not None
        fell = [a for a in alerts if a["customer_id"] == cid and a["type"] == "below_threshold"]
        assert row["below_since"] == fell[-1]["as_of"]
        assert row["change"] == latest.get("change")
    assert rows["churning-1"]["owner"] is None

    per_customer = {cid: memory(settings, cid) for cid in expected}
    sizing = memory_for_days(settings, expected["churning-0"][-1], 400)
    biggest = max(alerts, key=lambda a: len(orjson.dumps(a)))
    full = memory_for_days(settings, expected["churning-0"][-1], HISTORY_DAYS, biggest)
    print(f"\nRedis memory per customer after {DAYS} days (history + alerts + hash): "
          f"{per_customer}; a 400-day history alone: {sizing} bytes; {HISTORY_DAYS} days and "
          f"{MAX_ALERTS} alerts of {len(orjson.dumps(biggest))} bytes of JSON each: {full} bytes")
    assert max(per_customer.values()) < BOUND_120
    assert sizing < BOUND_400 and full < BOUND_FULL


def test_the_lua_script_keeps_the_list_the_python_rule_keeps(settings: Settings) -> None:
    """PUT_POINT on the real Redis against :func:`put_point`, on days in a shuffled order
    past the bound (older days, same-day updates, replays)."""
    rnd = random.Random(14)
    stamps = [EPOCH_MS + rnd.randrange(0, 500 * DAY_MS) for _ in range(1500)]

    async def run() -> list[str]:
        client = aioredis.Redis.from_url(settings.redis.url)
        scripts = Scripts(client)
        for ms in stamps:
            _, _, element = encode_point({"as_of": format_ms(ms), "score": 50.0,
                                          "band": "fair", "components": {}})
            async with client.pipeline(transaction=False) as pipe:
                await write_history(pipe, scripts, settings.redis.prefix,
                                    {("c", int(element[:5])): element}, {})
                await pipe.execute()
        kept = [e.decode() for e in await client.lrange(
            history_key(settings.redis.prefix, "c"), 0, -1)]
        await client.aclose()
        return kept

    model: list[str] = []
    for ms in stamps:
        put_point(model, encode_point({"as_of": format_ms(ms), "score": 50.0, "band": "fair",
                                       "components": {}})[2])
    kept = asyncio.run(run())
    assert kept == model and len(kept) == HISTORY_DAYS and kept == sorted(kept)
