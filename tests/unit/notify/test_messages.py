"""What receivers get: signed webhook bodies, Slack messages that cannot be hijacked, emails."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.notify.messages import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    email_message,
    slack_payload,
    webhook_body,
    webhook_headers,
)
from streams.notify.owners import Owner

ALERT: dict[str, Any] = {
    "alert_id": "acme-1:below_threshold:2026-11-20T10:00:00Z", "type": "below_threshold",
    "severity": "critical", "customer_id": "acme-1", "segment": "enterprise", "score": 37.3,
    "previous_score": 63.1, "threshold": 60.0, "band": "poor",
    "drivers": [{"component": "support", "score": 21.2, "impact": 14.8,
                 "detail": "2 urgent tickets open past SLA (oldest 31 h)"}],
    "confidence": 0.82, "evidence": 131, "as_of": "2026-11-20T10:00:00Z",
    "emitted_at": "2026-11-20T10:00:00.120Z",
}
ANA = Owner("acme-1", "Ana Lima", "ana@example.com", "U024BE7LH")


def test_a_receiver_can_check_the_signature_and_dedupe_on_the_key() -> None:
    body = webhook_body(ALERT, ANA)
    headers = webhook_headers(ALERT["alert_id"], body, "s3cr3t")
    expected = "sha256=" + hmac.new(b"s3cr3t", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert headers[IDEMPOTENCY_HEADER] == ALERT["alert_id"]
    sent = orjson.loads(body)
    assert sent == {**ALERT, "owner": {"owner": "Ana Lima", "email": "ana@example.com",
                                       "slack": "U024BE7LH"}}
    assert webhook_body(ALERT, ANA) == body  # a retry sends the same bytes
    assert SIGNATURE_HEADER not in webhook_headers(ALERT["alert_id"], body, None)


def test_slack_says_who_how_bad_why_and_links_the_customer() -> None:
    message = slack_payload(ALERT, ANA, "https://relscore.example.com/customers/acme-1")
    text = orjson.dumps(message).decode()
    assert message["text"] == ":red_circle: acme-1 fell below 60: 37.3 (poor)"
    assert "<@U024BE7LH> (Ana Lima)" in text  # a mention the owner is notified by
    assert "2 urgent tickets open past SLA (oldest 31 h)" in text
    assert "was 63.1" in text and "as of 2026-11-20T10:00:00Z" in text
    [actions] = [block for block in message["blocks"] if block["type"] == "actions"]
    assert actions["elements"][0]["url"] == "https://relscore.example.com/customers/acme-1"


def test_text_from_the_crm_or_the_events_cannot_mention_or_link_in_slack() -> None:
    owner = Owner("acme-1", "<!channel> Eve", None, "@eve")
    alert = {**ALERT, "segment": "<https://evil.example|click>",
             "drivers": [{"component": "support", "score": 1.0, "detail": "<!here> & co"}]}
    text = orjson.dumps(slack_payload(alert, owner, None)).decode()
    assert "<!channel>" not in text and "<!here>" not in text and "<https://evil" not in text
    assert "&lt;!channel&gt; Eve (@eve)" in text and "&amp; co" in text


def test_an_email_names_the_alert_and_survives_non_ascii_names() -> None:
    owner = Owner("acme-1", "Zoë Ærø", "zoe@example.com", None)
    mail = email_message(ALERT, owner, "relscore@example.com", "zoe@example.com", None)
    assert mail["Subject"] == "[relscore critical] acme-1 fell below 60: 37.3 (poor)"
    assert mail["X-Relscore-Alert-Id"] == ALERT["alert_id"]
    assert "Owner: Zoë Ærø." in mail.get_content()
    assert mail.as_bytes()  # encodes for SMTP


_text = st.text(max_size=60)


@given(customer=_text.filter(bool), detail=_text, owner_name=_text.filter(bool),
       score=st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)))
def test_any_alert_renders_to_json_that_round_trips(customer: str, detail: str,
                                                     owner_name: str, score: float) -> None:
    alert = {**ALERT, "customer_id": customer, "score": score,
             "drivers": [{"component": "support", "score": 1.0, "detail": detail}]}
    owner = Owner(customer, owner_name, None, None)
    assert orjson.loads(webhook_body(alert, owner))["customer_id"] == customer
    message = slack_payload(alert, owner, None)
    assert orjson.loads(orjson.dumps(message)) == message
    # No mention, link or command can come from the alert's text: each "<" is escaped.
    assert "<" not in orjson.dumps(message["blocks"]).decode()
