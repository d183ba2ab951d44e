"""The live page at ``/`` and the recent-alerts feed behind it.

``GET /`` serves ``streams/runtime/static/index.html``: plain HTML and JavaScript (no build
step, ``static/page.js``) that polls ``GET /at-risk`` and ``GET /alerts/recent`` every few
seconds and shows the customers at risk (score, band, 90-day sparkline, change over 7 and 30
days, what changed), one customer's history, the whole population and the latest alerts. Its
charts come from Chart.js, vendored in ``static/vendor`` and served by the worker under
``/static/`` (:data:`STATIC_FILES`), so the page needs nothing from the internet.

``GET /alerts/recent?limit=N`` answers from memory: every worker follows the whole alert topic
with its own consumer (no consumer group, so each worker sees every partition), starting a
little before the end, and keeps the latest :data:`MAX_RECENT` alerts by emission time. Each
alert carries its state (open or acknowledged, and its customer's snooze) from the alert
actions, which the same consumer reads from the start of their topic.

``POST /alerts/{alert_id}/ack[?by=NAME]`` and ``POST /alerts/{alert_id}/snooze?until=...``
record an action on the alert-actions topic (:mod:`streams.runtime.alert_actions`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from importlib import resources
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from streams.kafka_clients import aiokafka_client_config
from streams.runtime.alert_actions import (
    ACK,
    SNOOZE,
    ActionBook,
    ActionError,
    apply_action,
    new_action,
)
from streams.runtime.query import BadParameter, int_parameter
from streams.settings import Settings

log = logging.getLogger(__name__)

MAX_RECENT = 200
DEFAULT_RECENT = 20
RETRY_S = 2.0


# What ``/static/...`` serves: nothing but these package data files.
STATIC_FILES: dict[str, str] = {
    "page.js": "text/javascript",
    "vendor/chart.umd.min.js": "text/javascript",
    "vendor/chart.js-LICENSE.md": "text/plain",
}


def index_html() -> str:
    """The page (a package data file)."""
    page = resources.files("streams.runtime").joinpath("static/index.html")
    return page.read_text(encoding="utf-8")


def static_file(name: str) -> tuple[bytes, str] | None:
    """The bytes and content type of the static file ``name``, None for any other name.

    Examples:

    >>> body, kind = static_file("vendor/chart.umd.min.js")
    >>> kind, body[:17]
    ('text/javascript', b'/*!\\n * Chart.js v')
    >>> static_file("../settings.py") is None
    True
    """
    kind = STATIC_FILES.get(name)
    if kind is None:
        return None
    return resources.files("streams.runtime").joinpath("static", name).read_bytes(), kind


class RecentAlerts:
    """The latest alerts, newest first, at most ``size`` of them (alert ids are unique here:
    a re-sent alert replaces its earlier copy)."""

    def __init__(self, size: int = MAX_RECENT) -> None:
        self.size = size
        self._by_id: dict[str, dict[str, Any]] = {}

    def add(self, alerts: Iterable[dict[str, Any]]) -> None:
        for alert in alerts:
            self._by_id[str(alert.get("alert_id"))] = alert
        if len(self._by_id) > 2 * self.size:
            self._trim()

    def _trim(self) -> None:
        keep = self.latest(self.size)
        self._by_id = {str(alert.get("alert_id")): alert for alert in keep}

    def latest(self, limit: int) -> list[dict[str, Any]]:
        ordered = sorted(self._by_id.values(), key=_recency, reverse=True)
        return ordered[:limit]

    def __len__(self) -> int:
        return min(len(self._by_id), self.size)


def _recency(alert: dict[str, Any]) -> tuple[str, str, str]:
    # RFC 3339 UTC strings of one format sort as text.
    return (str(alert.get("emitted_at") or ""), str(alert.get("as_of") or ""),
            str(alert.get("alert_id") or ""))


def decode_alerts(values: Iterable[bytes | None]) -> list[dict[str, Any]]:
    """Alert messages from raw record values; anything undecodable is skipped."""
    out: list[dict[str, Any]] = []
    for value in values:
        if not value:
            continue
        try:
            message = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(message, dict) and "customer_id" in message:
            out.append(message)
    return out


async def _topic_exists(settings: Settings, topic: str) -> bool:
    probe = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                             **aiokafka_client_config(settings.kafka))
    try:
        await probe.start()
        return topic in await probe.topics()
    finally:
        await probe.stop()


async def follow_alerts(settings: Settings, recent: RecentAlerts, book: ActionBook,
                        backlog: int = MAX_RECENT) -> None:
    """Fill ``recent`` from the alert topic and ``book`` from the alert-actions topic until
    cancelled (retries while Kafka is away).

    One consumer without a group reads both, so it is assigned every partition of each: the
    alerts from ``backlog`` records before the end, the actions from their start.
    """
    topics = (settings.topics.alerts, settings.topics.alert_actions)
    while True:
        try:
            if all([await _topic_exists(settings, topic) for topic in topics]):
                await _follow(settings, recent, book, backlog)
        except KafkaError as exc:
            log.warning("recent-alerts feed: %s; retrying", exc.__class__.__name__)
        await asyncio.sleep(RETRY_S)


async def _follow(settings: Settings, recent: RecentAlerts, book: ActionBook,
                  backlog: int) -> None:
    alerts = settings.topics.alerts
    consumer = AIOKafkaConsumer(alerts, settings.topics.alert_actions, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest",
                                **aiokafka_client_config(settings.kafka))
    try:
        await consumer.start()
        tps = sorted(tp for tp in consumer.assignment() if tp.topic == alerts)
        if tps:
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - backlog))
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, records in batches.items():
                if tp.topic == alerts:
                    recent.add(decode_alerts(record.value for record in records))
                else:
                    for record in records:
                        apply_action(book, record.key, record.value)
    finally:
        await consumer.stop()


def serve_static(view: View, name: str) -> Response:
    found = static_file(name)
    if found is None:
        return view.json({"error": "not_found", "detail": f"no static file {name!r}"},
                         status=404)
    body, kind = found
    return view.bytes(body, content_type=kind, headers={"Cache-Control": "max-age=300"})


def _now_ms() -> int:
    return int(time.time() * 1000)


def register_page(app: faust.App, settings: Settings) -> RecentAlerts:
    """Add ``/``, ``/alerts/recent`` and the alert actions to ``app``'s web server, and the
    tasks feeding them."""
    recent = RecentAlerts()
    book = ActionBook()
    html = index_html()

    async def act(view: View, action: str, alert_id: str, request: Request) -> Response:
        try:
            taken = new_action(action, alert_id, _now_ms(), until=request.query.get("until"),
                               by=request.query.get("by") or None)
        except ActionError as exc:
            return view.json({"error": f"bad_{action}", "detail": str(exc)}, status=400)
        try:
            await app.producer.send_and_wait(settings.topics.alert_actions, taken.key,
                                             taken.to_json(), None, None, None)
        except KafkaError as exc:
            log.warning("alert action on %s not recorded: %s", alert_id,
                        exc.__class__.__name__)
            return view.json({"error": "not_recorded", "detail": "Kafka did not take the "
                              f"action ({exc.__class__.__name__}); try again"}, status=503)
        book.apply(taken)
        return view.json({"alert_id": alert_id, "customer_id": taken.customer_id,
                          "action": action, **book.state(alert_id, _now_ms())})

    @app.page("/")
    class Index(View):
        async def get(self, request: Request) -> Response:
            return self.html(html, headers={"Cache-Control": "no-cache"})

    @app.page("/static/{name}")
    class Static(View):
        async def get(self, request: Request, name: str) -> Response:
            return serve_static(self, name)

    @app.page("/static/vendor/{name}")
    class StaticVendor(View):
        async def get(self, request: Request, name: str) -> Response:
            return serve_static(self, f"vendor/{name}")

    @app.page("/alerts/recent")
    class Recent(View):
        async def get(self, request: Request) -> Response:
            try:
                limit = int_parameter(request.query, "limit", DEFAULT_RECENT, 1, MAX_RECENT)
            except BadParameter as exc:
                return self.json({"error": exc.code, "detail": str(exc)}, status=400)
            now = _now_ms()
            return self.json({"alerts": [{**alert, **book.state(str(alert.get("alert_id")), now)}
                                         for alert in recent.latest(limit)]})

    @app.page("/alerts/{alert_id}/ack")
    class Acknowledge(View):
        async def post(self, request: Request, alert_id: str) -> Response:
            return await act(self, ACK, alert_id, request)

    @app.page("/alerts/{alert_id}/snooze")
    class Snooze(View):
        async def post(self, request: Request, alert_id: str) -> Response:
            return await act(self, SNOOZE, alert_id, request)

    @app.task  # type: ignore[untyped-decorator]
    async def recent_alerts_feed() -> None:
        await follow_alerts(settings, recent, book)

    del Index, Static, StaticVendor, Recent, Acknowledge, Snooze, recent_alerts_feed
    return recent
