"""The live page at ``/`` in a real headless Chromium: it shows what ``/at-risk`` returns and
the recent alerts, and follows new events without a reload."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scorers.config import DAY_MS
from streams.laptop.scenario import EPOCH_MS, complaints, healthy_history, ticket_storm
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings
from streams.tools.topic_reader import read_all, wait_caught_up
from tests.support.browser import Browser
from tests.support.stack_fixtures import ROOT, EventProducer

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]
ARTIFACTS = ROOT / ".run" / "artifacts"

# What the page shows: at-risk rows as [customer, score text], alert ids in the feed.
DOM_AT_RISK = ("[...document.querySelectorAll('#at-risk tr[data-customer]')]"
               ".map(r => [r.dataset.customer, r.querySelector('.score').textContent])")
DOM_ALERTS = "[...document.querySelectorAll('#alerts [data-alert]')].map(a => a.dataset.alert)"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def at_risk_when(worker: WorkerProcess, condition: Callable[[list[str]], bool],
                 timeout: float = 60.0) -> list[dict[str, Any]]:
    """``/at-risk`` once ``condition(ids)`` holds (the Redis projector trails the topic)."""
    deadline = time.monotonic() + timeout
    customers: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        customers = get_json(worker.url + "/at-risk?limit=100")["customers"]
        if condition([c["customer_id"] for c in customers]):
            return customers
        time.sleep(0.25)
    raise TimeoutError(f"/at-risk never satisfied the condition: {customers}")


def churn(cid: str, end_ms: int) -> list[dict[str, Any]]:
    return complaints(cid, end_ms) + ticket_storm(cid, end_ms + 25 * DAY_MS)


def expected_rows(customers: list[dict[str, Any]]) -> list[list[str]]:
    return [[c["customer_id"], f"{c['score']:.1f}"] for c in customers]


def test_the_page_shows_the_customers_at_risk_and_the_alerts_and_follows_new_events(
    settings: Settings, start_worker: StartWorker, produce: EventProducer, tmp_path: Path,
) -> None:
    worker = start_worker(settings)
    end = EPOCH_MS + 120 * DAY_MS
    history = [e for cid in ("loyal-0", "churning-0", "churning-1")
               for e in healthy_history(cid, 120)]
    produce.events(sorted(history + churn("churning-0", end), key=lambda e: e["ts"]))
    wait_caught_up(settings)
    first = at_risk_when(worker, lambda ids: "churning-0" in ids)
    assert "loyal-0" not in [c["customer_id"] for c in first]
    assert "churning-1" not in [c["customer_id"] for c in first]
    alert_ids = [a["alert_id"] for a in read_all(settings, settings.topics.alerts)]
    assert alert_ids

    async def drive() -> None:
        browser = await Browser(tmp_path / "chromium").start()
        try:
            await browser.goto(worker.url + "/")
            # The page shows exactly what /at-risk returns, in its order, with its scores.
            rows = expected_rows(first)
            await browser.wait_for(DOM_AT_RISK, lambda shown: shown == rows)
            await browser.wait_for(DOM_ALERTS, lambda feed: sorted(feed) == sorted(alert_ids))
            text = await browser.evaluate("document.body.innerText")
            assert "churning-0" in text and "urgent" in text  # a driver, in words
            assert "loyal-0" not in text
            await browser.screenshot(ARTIFACTS / "page-at-risk.png")

            # New events: churning-1 turns sour. The open page picks it up by itself.
            await asyncio.to_thread(produce.events, churn("churning-1", end))
            await asyncio.to_thread(wait_caught_up, settings)
            second = await asyncio.to_thread(
                at_risk_when, worker, lambda ids: "churning-1" in ids)
            rows = expected_rows(second)
            shown = await browser.wait_for(DOM_AT_RISK, lambda shown: shown == rows)
            assert {"churning-0", "churning-1"} <= {cid for cid, _ in shown}
            alerts = read_all(settings, settings.topics.alerts)
            new_ids = {a["alert_id"] for a in alerts if a["customer_id"] == "churning-1"}
            assert new_ids
            await browser.wait_for(DOM_ALERTS, lambda feed: new_ids <= set(feed))
            await browser.screenshot(ARTIFACTS / "page-updated.png")

            # The Acknowledge button of an alert records the action; the page then shows it.
            target = sorted(new_ids)[0]
            button = (f"document.querySelector('#alerts [data-alert=\"{target}\"] button.ack')")
            assert await browser.evaluate(f"{button} !== null")
            await browser.evaluate(f"{button}.click()")
            state = f"document.querySelector('#alerts [data-alert=\"{target}\"]').dataset.state"
            await browser.wait_for(state, lambda shown: shown == "acknowledged")
            assert await browser.evaluate(f"{button} === null"), "acknowledged twice?"
            recent = await asyncio.to_thread(get_json, worker.url + "/alerts/recent?limit=50")
            [acked] = [a for a in recent["alerts"] if a["alert_id"] == target]
            assert acked["state"] == "acknowledged" and acked["acknowledged_at"]
            await browser.screenshot(ARTIFACTS / "page-acknowledged.png")
        finally:
            await browser.close()

    asyncio.run(drive())
    assert (ARTIFACTS / "page-updated.png").stat().st_size > 10_000


def test_recent_alerts_view_checks_its_limit(
    settings: Settings, start_worker: StartWorker,
) -> None:
    worker = start_worker(settings)
    assert get_json(worker.url + "/alerts/recent?limit=5") == {"alerts": []}
    for bad in ("0", "201", "x"):
        try:
            urllib.request.urlopen(worker.url + f"/alerts/recent?limit={bad}", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
            assert json.loads(exc.read())["error"] == "bad_limit"
        else:
            raise AssertionError(f"limit={bad} was accepted")
    with urllib.request.urlopen(worker.url + "/", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert b"Customers at risk" in response.read()
