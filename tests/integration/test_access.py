"""Access control on a real worker (RELSCORE_API_TOKENS, RELSCORE_API_OPEN_HEALTH).

Every route the worker's web server registers is asked, with no token, a wrong one, a read
one and an operate one. The routes are read from the aiohttp router of the same app the
worker builds (:func:`streams.runtime.app.create_app`), so an endpoint added later is asked
too without this file changing.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from streams.laptop.worker_process import WorkerProcess
from streams.runtime.access import HEALTH_PAGES, OPERATE_ROUTES
from streams.settings import Settings
from streams.tools.topic_reader import read_records
from tests.support.notify_support import alert, produce_alerts, wait_until
from tests.support.stack_fixtures import ROOT

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]
# Every token begins so: whatever shows it leaked one.
SENTINEL = "S3NT1NEL"


def tokens() -> tuple[str, str]:
    return (f"{SENTINEL}-r-{secrets.token_urlsafe(12)}",
            f"{SENTINEL}-o-{secrets.token_urlsafe(12)}")


def call(worker: WorkerProcess, method: str, path: str, token: str | None = None,
         authorization: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """``method path`` on the worker, with ``Authorization: Bearer token`` (or the header
    ``authorization``) when given: status, body (JSON when it is), headers."""
    if token is not None:
        authorization = f"Bearer {token}"
    headers = {"Authorization": authorization} if authorization is not None else {}
    data = b"" if method == "POST" else None
    request = urllib.request.Request(worker.url + path, method=method, data=data,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, got = exc.code, exc.read(), dict(exc.headers)
    body: Any = raw.decode(errors="replace")
    if got.get("Content-Type", "").startswith("application/json") and raw:
        body = json.loads(raw)
    return status, body, got


_ROUTES: list[tuple[str, str]] = []
# Builds the worker's app and prints its routes: in a process of its own, since the app's
# metrics register process-wide and the unit tests build the app in this one.
ROUTES_SCRIPT = """
import json
from aiohttp.web import StaticResource
from scorers.config import DEFAULT_CONFIG
from streams.runtime.app import create_app
from streams.settings import Settings
app = create_app(Settings.from_env(), DEFAULT_CONFIG)
routes = set()
for route in app.web.web_app.router.routes():
    resource = route.resource
    slash = "/" if isinstance(resource, StaticResource) else ""
    routes.add((route.method, resource.canonical + slash))
print(json.dumps(sorted(routes)))
"""


def worker_routes(settings: Settings) -> list[tuple[str, str]]:
    """``(method, canonical pattern)`` of every route of the worker's web application, built
    from these settings by :func:`streams.runtime.app.create_app` in a child process (once:
    the routes do not depend on the settings)."""
    if _ROUTES:
        return list(_ROUTES)
    done = subprocess.run([sys.executable, "-c", ROUTES_SCRIPT], capture_output=True,
                          text=True, timeout=120, check=False, cwd=ROOT,
                          env={**os.environ, **settings.to_env()})
    assert done.returncode == 0, done.stderr[-3000:]
    _ROUTES.extend((method, pattern) for method, pattern in
                   json.loads(done.stdout.strip().splitlines()[-1]))
    return list(_ROUTES)


def sample_path(pattern: str, values: dict[str, str]) -> str:
    """``pattern`` with each ``{name}`` (or ``{name:regex}``) filled from ``values``, else
    ``sample``; a static prefix gets a file name."""
    filled = re.sub(r"\{(\w+)(?::[^}]*)?\}",
                    lambda m: urllib.parse.quote(values.get(m.group(1), "sample"), safe=""),
                    pattern)
    if filled.endswith("/") and filled != "/":
        filled += "no-such-asset.js"
    if filled.endswith("/snooze"):
        filled += "?until=2h"
    return filled


def is_public(pattern: str) -> bool:
    return pattern == "/" or pattern.startswith("/static/")


def assert_unauthorized(what: str, answer: tuple[int, Any, dict[str, str]],
                        method: str) -> None:
    status, body, headers = answer
    assert status == 401, f"{what}: {status} {body}"
    assert headers.get("WWW-Authenticate", "").startswith("Bearer"), f"{what}: {headers}"
    if method != "HEAD":
        assert body["error"] == "unauthorized" and body["detail"], f"{what}: {body}"


def test_every_route_needs_a_token_of_the_right_role(
    settings: Settings, start_worker: StartWorker,
) -> None:
    read, operate = tokens()
    guarded = settings.override(api_tokens=f"read:{read},operate:{operate}")
    first, second = alert(1, "acme:eu-1"), alert(2, "globex-2")
    produce_alerts(guarded, [first, second])
    worker = start_worker(guarded)
    routes = worker_routes(guarded)
    patterns = {pattern for _, pattern in routes}
    assert {"/", "/healthz", "/metrics", "/at-risk", "/customers/{customer_id}",
            "/alerts/recent", *OPERATE_ROUTES} <= patterns, patterns
    wait_until(lambda: first["alert_id"] in str(call(worker, "GET", "/alerts/recent",
                                                     read)[1]), "the alerts on /alerts/recent")
    values = {"customer_id": first["customer_id"], "alert_id": first["alert_id"]}
    wrong = f"{SENTINEL}-wrong-{secrets.token_urlsafe(12)}"

    guarded_routes = []
    for method, pattern in routes:
        path = sample_path(pattern, values)
        what = f"{method} {path}"
        writes = method not in ("GET", "HEAD") or pattern in OPERATE_ROUTES
        if is_public(pattern) or (pattern in HEALTH_PAGES and method in ("GET", "HEAD")):
            status = call(worker, method, path)[0]
            assert status not in (401, 403), f"{what} is open without a token: {status}"
            continue
        guarded_routes.append(what)
        assert_unauthorized(f"{what} without a token", call(worker, method, path), method)
        assert_unauthorized(f"{what} with a wrong token", call(worker, method, path, wrong),
                            method)
        assert_unauthorized(f"{what} with the read token as Basic credentials",
                            call(worker, method, path, authorization=f"Basic {read}"), method)
        status, body, _ = call(worker, method, path, read)
        if writes:
            assert status == 403, f"{what} with a read token: {status} {body}"
            if method != "HEAD":
                assert body["error"] == "forbidden" and "operate" in body["detail"], body
        else:
            assert status not in (401, 403), f"{what} with a read token: {status} {body}"
        if method == "GET":
            assert call(worker, method, path, operate)[0] not in (401, 403), what
    # GET and HEAD of /at-risk, /alerts/recent, /customers/{id}; POST and HEAD of ack, snooze.
    assert len(guarded_routes) >= 10, guarded_routes
    assert not read_records(guarded, guarded.topics.alert_actions, timeout=3), (
        "a refused request recorded an action")

    # The operate role acknowledges and snoozes: recorded, and the state changes.
    status, acked, _ = call(worker, "POST",
                            sample_path("/alerts/{alert_id}/ack", values) + "?by=Ana", operate)
    assert status == 200 and acked["state"] == "acknowledged", acked
    assert acked["acknowledged_by"] == "Ana"
    values["alert_id"] = second["alert_id"]
    status, snoozed, _ = call(worker, "POST", sample_path("/alerts/{alert_id}/snooze", values),
                              operate)
    assert status == 200 and snoozed["snoozed_until"], snoozed
    records = read_records(guarded, guarded.topics.alert_actions)
    assert sorted(r.key for r in records) == sorted([
        f"{first['alert_id']}|ack".encode(), f"{second['alert_id']}|snooze".encode()])
    _, shown, _ = call(worker, "GET", "/alerts/recent?limit=50", read)
    states = {a["alert_id"]: a["state"] for a in shown["alerts"]}
    assert states[first["alert_id"]] == "acknowledged"

    _, metrics_text, _ = call(worker, "GET", "/metrics")
    assert re.search(r'relscore_api_refusals_total\{status="401"\} [1-9]', metrics_text)
    assert re.search(r'relscore_api_refusals_total\{status="403"\} [1-9]', metrics_text)
    assert SENTINEL not in metrics_text
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert "HTTP API needs a bearer token (2 configured: 1 operate, 1 read)" in log
    assert "is open: anyone" not in log
    assert SENTINEL not in log, [line for line in log.splitlines() if SENTINEL in line]


def test_health_and_metrics_need_a_token_when_not_left_open(
    settings: Settings, start_worker: StartWorker,
) -> None:
    read, operate = tokens()
    worker = start_worker(settings.override(api_tokens=f"read:{read},operate:{operate}",
                                            api_open_health=False))
    for path in HEALTH_PAGES:
        assert_unauthorized(f"{path} without a token", call(worker, "GET", path), "GET")
        assert call(worker, "GET", path, read)[0] == 200
    assert call(worker, "GET", "/")[0] == 200, "the page loads without a token"
    assert_unauthorized("/at-risk", call(worker, "GET", "/at-risk"), "GET")


def test_without_tokens_the_api_is_open_and_the_worker_says_so(
    settings: Settings, start_worker: StartWorker,
) -> None:
    worker = start_worker(settings)
    for method, pattern in worker_routes(settings):
        if method == "GET":
            status = call(worker, method, sample_path(pattern, {}))[0]
            assert status not in (401, 403), f"{pattern}: {status}"
    status, body, _ = call(worker, "POST", "/alerts/nobody%3Abelow_threshold%3Ax/ack")
    assert status not in (401, 403), body  # past access control: the view's own answer
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    warnings = [line for line in log.splitlines() if "is open: anyone" in line]
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0] and "RELSCORE_API_TOKENS" in warnings[0]
