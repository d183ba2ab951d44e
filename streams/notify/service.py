"""Running ``relscore notify``: the notifier and its HTTP server (``/healthz``, ``/metrics``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from pathlib import Path

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.notify import metrics
from streams.notify.notifier import Notifier
from streams.notify.routes import Routing, load_routes, single_webhook
from streams.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def configured_routing(settings: Settings, env: Mapping[str, str]) -> Routing:
    """The routes file ``RELSCORE_NOTIFY_ROUTES`` names (its secrets from ``env``), else
    every alert to ``RELSCORE_NOTIFY_WEBHOOK_URL``; RoutesError or SettingsError when
    neither can be used.

    >>> configured_routing(Settings(), {})
    Traceback (most recent call last):
    ...
    streams.settings.SettingsError: nowhere to deliver: set RELSCORE_NOTIFY_ROUTES to a routes \
file (deploy/notify/routes.example.toml) or RELSCORE_NOTIFY_WEBHOOK_URL to one webhook
    """
    notify = settings.notify
    if notify.routes_file:
        if notify.webhook_url:
            log.warning("RELSCORE_NOTIFY_ROUTES is set: RELSCORE_NOTIFY_WEBHOOK_URL is not used")
        return load_routes(Path(notify.routes_file), env)
    if notify.webhook_url:
        return single_webhook(notify.webhook_url, notify.webhook_secret)
    raise SettingsError("nowhere to deliver: set RELSCORE_NOTIFY_ROUTES to a routes file "
                        "(deploy/notify/routes.example.toml) or RELSCORE_NOTIFY_WEBHOOK_URL to "
                        "one webhook")


def status_app(notifier: Notifier) -> web.Application:
    """``/healthz`` (200 when delivering, 503 starting or stalled, with the queues) and
    ``/metrics`` (Prometheus)."""

    async def healthz(request: web.Request) -> web.Response:
        ok, state = notifier.health()
        return web.Response(status=200 if ok else 503, body=orjson.dumps(state),
                            content_type="application/json")

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    return app


async def run_notify(settings: Settings, routing: Routing) -> None:
    """Serve and deliver until SIGTERM or SIGINT. Raises OSError when the port is taken and
    KafkaError when Kafka cannot be reached."""
    notifier = Notifier(settings, routing)
    runner = web.AppRunner(status_app(notifier), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.web.host, settings.notify.port)
        await site.start()
        log.info("notify status on http://%s:%d/healthz and /metrics", settings.web.host,
                 settings.notify.port)
        task = asyncio.create_task(notifier.run())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("notify stopped")
    finally:
        await runner.cleanup()
