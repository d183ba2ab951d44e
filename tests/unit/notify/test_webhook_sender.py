"""Webhook delivery against a real aiohttp receiver: retries, final refusals, timeouts."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import aiohttp
import pytest

from streams.notify.messages import SIGNATURE_HEADER, webhook_body, webhook_headers
from streams.notify.routes import Destination
from streams.notify.webhook_sender import Outcome, post_with_retries
from tests.support.webhook_receiver import Answer, WebhookReceiver, webhook_receiver

ALERT = {"alert_id": "acme-1:below_threshold:2026-11-20T10:00:00Z", "customer_id": "acme-1"}


def deliver(script: list[Answer], *, retries: int = 3, timeout_s: float = 5.0,
            secret: str | None = "s3cr3t") -> tuple[Outcome, WebhookReceiver, list[float]]:
    """Deliver ALERT to a receiver answering ``script``; the waits are recorded, not slept."""
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async def run() -> tuple[Outcome, WebhookReceiver]:
        async with webhook_receiver(script) as receiver, aiohttp.ClientSession() as session:
            destination = Destination("cs-team", "webhook", url=receiver.url, secret=secret,
                                      timeout_s=timeout_s, retries=retries)
            body = webhook_body(ALERT, None)
            outcome = await post_with_retries(
                session, destination, body, webhook_headers(ALERT["alert_id"], body, secret),
                sleep=no_wait)
            return outcome, receiver

    outcome, receiver = asyncio.run(run())
    return outcome, receiver, waits


def test_a_receiver_failing_for_a_while_gets_the_same_signed_request_until_it_takes_it() -> None:
    outcome, receiver, waits = deliver([500, 502, (503, {"Retry-After": "7"})])
    assert outcome == Outcome(True, 4, status=200)
    assert waits == [0.5, 1.0, 7.0]
    bodies = {request.body for request in receiver.requests}
    assert len(receiver.requests) == 4 and len(bodies) == 1
    [body] = bodies
    for request in receiver.requests:
        expected = "sha256=" + hmac.new(b"s3cr3t", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)
        assert request.headers["Idempotency-Key"] == ALERT["alert_id"]


@pytest.mark.parametrize(("answer", "reason"), [
    (400, "HTTP 400, not retried"),
    (404, "HTTP 404, not retried"),
    (301, "HTTP 301 (a redirect: give the URL it points to), not retried"),
])
def test_a_final_refusal_is_not_retried(answer: int, reason: str) -> None:
    outcome, receiver, waits = deliver([answer])
    assert outcome == Outcome(False, 1, reason, answer)
    assert len(receiver.requests) == 1 and waits == []


def test_retries_run_out_with_the_last_reason() -> None:
    outcome, receiver, waits = deliver([500, 500, 429], retries=2)
    assert outcome == Outcome(False, 3, "HTTP 429 after 3 attempts", 429)
    assert len(receiver.requests) == 3 and waits == [0.5, 1.0]


def test_a_hanging_receiver_times_out_on_each_attempt() -> None:
    outcome, receiver, _ = deliver(["hang", "hang"], retries=1, timeout_s=0.2)
    assert outcome.delivered is False
    assert outcome.reason == "no answer within 0.2 s after 2 attempts"
    assert len(receiver.requests) == 2


def test_no_receiver_at_all_says_so_without_the_url() -> None:
    async def run() -> Outcome:
        async with webhook_receiver() as receiver:
            url = receiver.url  # the port is free again once the receiver is gone
        async with aiohttp.ClientSession() as session:
            destination = Destination("cs-team", "webhook", url=url, retries=0)
            return await post_with_retries(session, destination, b"{}", {})

    outcome = asyncio.run(run())
    assert outcome.delivered is False and outcome.reason is not None
    assert outcome.reason.startswith("cannot reach it (ClientConnectorError")
    assert "127.0.0.1" not in outcome.reason

