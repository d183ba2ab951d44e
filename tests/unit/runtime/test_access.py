"""The access rules (streams.runtime.access): the pure decision, table by table, and the
middleware on a bare aiohttp application (the same one Faust's web driver builds)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.runtime.access import access_middleware, announce, decide
from streams.settings import ApiToken, WebSettings

READ_TOKEN, OPERATE_TOKEN = "S3NT1NEL-read", "S3NT1NEL-operate"
TOKENS = (ApiToken("read", READ_TOKEN, "read#1"), ApiToken("operate", OPERATE_TOKEN, "operate#2"))
ACK = "/alerts/{alert_id}/ack"
SNOOZE = "/alerts/{alert_id}/snooze"

CASES: list[tuple[str, str, str | None, str | None, bool, int]] = [
    # method, path, route, Authorization, open_health -> status
    ("GET", "/", "/", None, True, 200),
    ("HEAD", "/", "/", None, False, 200),
    ("GET", "/static/chart.js", "/static", None, False, 200),
    ("POST", "/", "/", None, True, 401),
    ("GET", "/healthz", "/healthz", None, True, 200),
    ("GET", "/metrics", "/metrics", None, True, 200),
    ("GET", "/healthz", "/healthz", None, False, 401),
    ("GET", "/metrics", "/metrics", f"Bearer {READ_TOKEN}", False, 200),
    ("GET", "/at-risk", "/at-risk", None, True, 401),
    ("GET", "/at-risk", "/at-risk", "Bearer", True, 401),
    ("GET", "/at-risk", "/at-risk", f"Basic {READ_TOKEN}", True, 401),
    ("GET", "/at-risk", "/at-risk", f"Bearer {READ_TOKEN}x", True, 401),
    ("GET", "/at-risk", "/at-risk", f"Bearer {READ_TOKEN[:-1]}", True, 401),
    ("GET", "/at-risk", "/at-risk", "Bearer caf\u00e9", True, 401),
    ("GET", "/at-risk", "/at-risk", f"bearer {READ_TOKEN}", True, 200),
    ("GET", "/customers/c-1/history", "/customers/{customer_id}/history",
     f"Bearer {READ_TOKEN}", True, 200),
    ("GET", "/nowhere", None, None, True, 401),  # unknown routes tell a stranger nothing
    ("POST", "/alerts/a:1/ack", ACK, f"Bearer {READ_TOKEN}", True, 403),
    ("HEAD", "/alerts/a:1/ack", ACK, f"Bearer {READ_TOKEN}", True, 403),
    ("POST", "/alerts/a:1/snooze", SNOOZE, f"Bearer {READ_TOKEN}", True, 403),
    ("POST", "/anything-new", "/anything-new", f"Bearer {READ_TOKEN}", True, 403),
    ("POST", "/alerts/a:1/ack", ACK, None, True, 401),
    ("POST", "/alerts/a:1/ack", ACK, f"Bearer {OPERATE_TOKEN}", True, 200),
    ("POST", "/alerts/a:1/snooze", SNOOZE, f"Bearer {OPERATE_TOKEN}", True, 200),
    ("GET", "/at-risk", "/at-risk", f"Bearer {OPERATE_TOKEN}", True, 200),
]


@pytest.mark.parametrize(("method", "path", "route", "header", "open_health", "status"), CASES)
def test_decide(method: str, path: str, route: str | None, header: str | None,
                open_health: bool, status: int) -> None:
    verdict = decide(method, path, route, header, TOKENS, open_health)
    assert verdict.status == status
    assert "S3NT1NEL" not in verdict.detail
    assert (verdict.challenge is not None) == (status == 401)


@pytest.mark.parametrize(("method", "path", "route", "header", "open_health", "status"), CASES)
def test_without_tokens_everything_is_open(method: str, path: str, route: str | None,
                                           header: str | None, open_health: bool,
                                           status: int) -> None:
    assert decide(method, path, route, header, (), open_health).allowed


async def _requests(settings: WebSettings, calls: list[tuple[str, str, dict[str, str]]]
                    ) -> list[tuple[int, Any, str | None]]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(middlewares=[access_middleware(settings)])
    app.router.add_get("/at-risk", ok)
    app.router.add_get("/healthz", ok)
    app.router.add_post("/alerts/{alert_id}/ack", ok)
    out: list[tuple[int, Any, str | None]] = []
    async with TestClient(TestServer(app)) as client:
        for method, path, headers in calls:
            response = await client.request(method, path, headers=headers)
            body = await response.json() if response.content_type == "application/json" \
                else await response.text()
            out.append((response.status, body, response.headers.get("WWW-Authenticate")))
    return out


def test_the_middleware_answers_json_401_and_403() -> None:
    settings = WebSettings(api_tokens=f"read:{READ_TOKEN},operate:{OPERATE_TOKEN}")
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    operate = {"Authorization": f"Bearer {OPERATE_TOKEN}"}
    answers = asyncio.run(_requests(settings, [
        ("GET", "/at-risk", {}), ("GET", "/at-risk", {"Authorization": "Bearer nope"}),
        ("GET", "/at-risk", read), ("POST", "/alerts/a:1/ack", read),
        ("POST", "/alerts/a:1/ack", operate), ("GET", "/healthz", {}),
        ("GET", "/missing", {}), ("GET", "/missing", read),
    ]))
    (none, wrong, reading, forbidden, acked, health, stranger, missing) = answers
    assert none[0] == 401 and none[1]["error"] == "unauthorized" and none[2] is not None
    assert none[2].startswith("Bearer") and none[1]["detail"]
    assert wrong[0] == 401 and wrong[1]["error"] == "unauthorized"
    assert wrong[2] is not None and wrong[2].startswith("Bearer")
    assert reading == (200, {"ok": True}, None)
    assert forbidden[0] == 403 and forbidden[1]["error"] == "forbidden" and forbidden[2] is None
    assert acked[0] == 200 and health[0] == 200
    assert stranger[0] == 401
    assert missing[0] == 404  # past the token, aiohttp's own answer


def test_an_open_api_logs_one_warning_saying_how_to_close_it(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "streams.runtime.access"):
        announce(WebSettings(port=6066))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "open" in warnings[0].getMessage() and "RELSCORE_API_TOKENS" in warnings[0].getMessage()


def test_a_guarded_api_logs_counts_never_tokens(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "streams.runtime.access"):
        announce(WebSettings(api_tokens=f"read:{READ_TOKEN},operate:{OPERATE_TOKEN}"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "1 operate, 1 read" in caplog.text and "S3NT1NEL" not in caplog.text
