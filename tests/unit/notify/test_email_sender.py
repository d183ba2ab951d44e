"""Email delivery against a real SMTP server (aiosmtpd): STARTTLS, login, retries, refusals."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from email.message import EmailMessage

import pytest

from streams.notify.email_sender import send_with_retries
from streams.notify.messages import email_message
from streams.notify.owners import Owner
from streams.notify.routes import Destination
from streams.notify.webhook_sender import Outcome
from tests.support.secure_fixtures import make_tls
from tests.support.secure_servers import TlsFiles
from tests.support.smtp_receiver import smtp_receiver

ALERT = {"alert_id": "acme-1:below_threshold:2026-11-20T10:00:00Z", "type": "below_threshold",
         "severity": "warning", "customer_id": "acme-1", "score": 57.3, "band": "fair",
         "threshold": 60.0, "previous_score": 63.1, "as_of": "2026-11-20T10:00:00Z",
         "drivers": [{"component": "support", "score": 41.2, "detail": "2 urgent tickets"}]}
ANA = Owner("acme-1", "Ana Lima", "ana@example.com", None)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def mail() -> EmailMessage:
    return email_message(ALERT, ANA, "relscore@example.com", "ana@example.com", None)


def destination(port: int, tls: TlsFiles, **changes: str | None) -> Destination:
    base = Destination("owner-mail", "email", to="owner", smtp_host="127.0.0.1",
                       smtp_port=port, starttls=True, sender="relscore@example.com",
                       username="relscore", password="pw", ca_file=str(tls.ca_cert),
                       timeout_s=5.0, retries=2)
    return replace(base, **changes)


def send(target: Destination, message: EmailMessage) -> tuple[Outcome, list[float]]:
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    outcome = asyncio.run(send_with_retries(target, message, sleep=no_wait))
    return outcome, waits


def test_a_mail_goes_over_starttls_with_the_login(tls: TlsFiles, mail: EmailMessage) -> None:
    with smtp_receiver(tls) as server:
        outcome, waits = send(destination(server.port, tls), mail)
    assert outcome == Outcome(True, 1) and waits == []
    assert server.logins == ["relscore"]
    [received] = server.accepted
    assert received["Subject"] == "[relscore warning] acme-1 fell below 60: 57.3 (fair)"
    assert received["X-Relscore-Alert-Id"] == ALERT["alert_id"]
    assert "- support 41.2: 2 urgent tickets" in received.get_content()


def test_a_deferring_server_gets_the_mail_once_it_takes_it(
    tls: TlsFiles, mail: EmailMessage,
) -> None:
    with smtp_receiver(tls, answers=["451 4.3.0 try again later"]) as server:
        outcome, waits = send(destination(server.port, tls), mail)
    assert outcome == Outcome(True, 2) and waits == [0.5]
    assert len(server.accepted) == 1


@pytest.mark.parametrize(("changes", "answers", "reason"), [
    ({"password": "wrong"}, [], "login refused (SMTP 535), not retried"),
    ({}, ["554 5.7.1 rejected"], "SMTP 554, not retried"),
    ({"ca_file": None}, [], "its certificate is not trusted"),
])
def test_a_final_refusal_is_not_retried(
    tls: TlsFiles, mail: EmailMessage, changes: dict[str, str | None], answers: list[str],
    reason: str,
) -> None:
    with smtp_receiver(tls, answers=answers) as server:
        outcome, waits = send(destination(server.port, tls, **changes), mail)
    assert outcome.delivered is False and outcome.attempts == 1 and waits == []
    assert outcome.reason is not None and outcome.reason.startswith(reason)
    assert "wrong" not in outcome.reason and server.accepted == []


def test_no_server_is_retried_then_reported(tls: TlsFiles, mail: EmailMessage) -> None:
    with smtp_receiver(tls) as server:
        port = server.port  # free again once the server has stopped
    outcome, waits = send(destination(port, tls), mail)
    assert outcome.delivered is False and waits == [0.5, 1.0]
    assert outcome.reason == (
        "cannot reach the SMTP server (ConnectionRefusedError) after 3 attempts")
