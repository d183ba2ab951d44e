"""The page's charts and controls in a real headless Chromium, after 120 days of scripted
history scored by a real worker: sparklines in the at-risk table, a customer's history chart
with its alert points, search, the population; and the token prompt on a guarded worker.

Screenshots go to ``.run/artifacts`` (the README shows ``page-panels.png``)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
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
CUSTOMERS = ("loyal-0", "churning-0", "churning-1")
ROWS = "[...document.querySelectorAll('#at-risk tr[data-customer]')]"
# Per at-risk row: how many points its sparkline chart holds (-1: no chart drawn).
SPARK_POINTS = (f"Object.fromEntries({ROWS}.map(r => {{"
                " const c = r.querySelector('canvas.sparkline');"
                " const chart = c && Chart.getChart(c);"
                " return [r.dataset.customer,"
                " chart ? chart.data.datasets[0].data.length : -1]; }))")
READY = "document.getElementById('detail').dataset.ready"
BAND_DAYS = "Number(document.getElementById('bands-chart').dataset.days || 0)"


def click(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).click()"


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_json(url: str, condition: Callable[[Any], bool], token: str | None = None,
              timeout: float = 60.0) -> Any:
    """``url``'s JSON once ``condition`` holds (the Redis projector trails the topics)."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        body = get_json(url, token)
        if condition(body):
            return body
        time.sleep(0.25)
    raise TimeoutError(f"{url} never satisfied the condition: {body}")


def scripted_history(produce: EventProducer) -> None:
    """120 healthy days for three customers; then two of them turn sour."""
    end = EPOCH_MS + 120 * DAY_MS
    events = [e for cid in CUSTOMERS for e in healthy_history(cid, 120)]
    for cid in ("churning-0", "churning-1"):
        events += complaints(cid, end) + ticket_storm(cid, end + 25 * DAY_MS)
    produce.events(sorted(events, key=lambda e: e["ts"]))


def settled(settings: Settings, worker: WorkerProcess, token: str | None = None) -> list[Any]:
    """The at-risk rows once both sour customers are in them with their alerts projected."""
    wait_caught_up(settings)
    alerts = read_all(settings, settings.topics.alerts)
    wanted = {cid: sum(1 for a in alerts if a["customer_id"] == cid)
              for cid in ("churning-0", "churning-1")}
    rows: list[Any] = wait_json(
        worker.url + "/at-risk?limit=200",
        lambda body: {"churning-0", "churning-1"} <= {c["customer_id"] for c in body["customers"]},
        token)["customers"]
    for cid, count in wanted.items():
        wait_json(worker.url + f"/customers/{cid}/history?days=400",
                  lambda body, count=count: len(body["alerts"]) == count, token)
    return rows


def test_the_page_draws_sparklines_a_customer_history_and_finds_customers(
    settings: Settings, start_worker: StartWorker, produce: EventProducer, tmp_path: Path,
) -> None:
    worker = start_worker(settings)
    scripted_history(produce)
    rows = settled(settings, worker)
    sparks = {c["customer_id"]: len(c["spark"]) for c in rows}
    assert all(count > 0 for count in sparks.values()), sparks
    history = get_json(worker.url + "/customers/churning-0/history?days=400")
    assert history["points"] and history["alerts"]

    async def drive() -> None:
        browser = await Browser(tmp_path / "chromium").start()
        try:
            await browser.goto(worker.url + "/")
            # Every at-risk row has a drawn sparkline with one point per day of /at-risk's spark.
            drawn = await browser.wait_for(SPARK_POINTS, lambda shown: shown == sparks)
            assert set(drawn) == set(sparks)

            # The customer panel: a chart with one point per daily point, the alerts marked.
            await browser.evaluate(click('#at-risk tr[data-customer="churning-0"]'))
            await browser.wait_for(READY, lambda ready: ready == "churning-0")
            counts = await browser.evaluate(
                "(() => { const chart = Chart.getChart(document.getElementById('history-chart'));"
                " const sets = chart.data.datasets;"
                " return [sets[0].data.length, sets.find(s => s.label === 'alerts').data.length,"
                " sets.length]; })()")
            points, alerts, series = counts
            assert points == len(history["points"]) and alerts == len(history["alerts"])
            assert series >= 3  # the score, at least one component, the alerts
            listed = await browser.evaluate(
                "[...document.querySelectorAll('#detail ol.changes li')].map(li => li.textContent)")
            assert listed and any("support" in line for line in listed), listed
            await browser.evaluate("document.getElementById('detail').scrollIntoView()")
            await browser.screenshot(ARTIFACTS / "page-customer-panel.png")

            # The population: customers per band for each day, the histogram of today.
            await browser.wait_for(BAND_DAYS, lambda days: days > 0)
            total = await browser.evaluate(
                "Chart.getChart(document.getElementById('histogram-chart'))"
                ".data.datasets[0].data.reduce((a, b) => a + b, 0)")
            assert total == len(CUSTOMERS)

            # Search by id prefix: both churning customers, not the loyal one; a hit opens it.
            await browser.evaluate(
                "(() => { const box = document.getElementById('search'); box.value = 'churn';"
                " box.dispatchEvent(new Event('input')); })()")
            hits = await browser.wait_for(
                "[...document.querySelectorAll('#search-results .hit[data-customer]')]"
                ".map(h => h.dataset.customer)", lambda found: len(found) == 2)
            assert sorted(hits) == ["churning-0", "churning-1"]
            await browser.screenshot(ARTIFACTS / "page-search.png")
            await browser.evaluate(click('#search-results .hit[data-customer="churning-1"]'))
            await browser.wait_for(READY, lambda ready: ready == "churning-1")
            await browser.evaluate("window.scrollTo(0, 0)")
            await browser.screenshot(ARTIFACTS / "page-panels.png", full_page=True)
        finally:
            await browser.close()

    asyncio.run(drive())
    assert (ARTIFACTS / "page-panels.png").stat().st_size > 20_000


def test_a_guarded_page_asks_for_a_token_refuses_a_wrong_one_and_works_with_a_right_one(
    settings: Settings, start_worker: StartWorker, produce: EventProducer, tmp_path: Path,
) -> None:
    read, operate = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    worker = start_worker(settings.override(api_tokens=f"read:{read},operate:{operate}"))
    scripted_history(produce)
    settled(settings, worker, read)
    submit = ("(token) => { document.getElementById('token-input').value = token;"
              " document.getElementById('token-submit').click(); }")

    async def drive() -> None:
        browser = await Browser(tmp_path / "chromium").start()
        try:
            await browser.goto(worker.url + "/")
            # No token yet: the page asks for one and shows no customer.
            await browser.wait_for("document.getElementById('token-dialog').open",
                                   lambda shown: shown is True)
            assert await browser.evaluate("document.body.dataset.auth") == "needed"
            assert await browser.evaluate(f"{ROWS}.length") == 0
            await browser.screenshot(ARTIFACTS / "page-token-prompt.png")

            # A wrong token is refused: the page asks again, saying so.
            await browser.evaluate(f"({submit})('not-{read}')")
            await browser.wait_for("document.body.dataset.auth", lambda auth: auth == "refused")
            assert await browser.evaluate("document.getElementById('token-dialog').open") is True
            assert "refused" in await browser.evaluate(
                "document.getElementById('token-refused').textContent")
            assert await browser.evaluate(f"{ROWS}.length") == 0
            await browser.screenshot(ARTIFACTS / "page-token-refused.png")

            # The read token opens the page; acknowledging needs the operate token.
            await browser.evaluate(f"({submit})('{read}')")
            await browser.wait_for(f"{ROWS}.length", lambda shown: shown >= 2)
            assert await browser.evaluate("sessionStorage.getItem('relscore.token')") == read
            button = "document.querySelector('#alerts [data-state=\"open\"] button.ack')"
            await browser.wait_for(f"{button} !== null")
            await browser.evaluate(f"{button}.click()")
            await browser.wait_for("document.getElementById('status').textContent",
                                   lambda text: "operate" in text)
        finally:
            await browser.close()

    asyncio.run(drive())
