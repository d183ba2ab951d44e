"""What a destination receives for an alert: a signed webhook body, a Slack message, an email.

All three say who, how bad, why and since when, from the alert's own fields and the owner. The
same alert always renders to the same bytes, so a retry or a repeat after a crash sends what
the first attempt sent, under the same idempotency key and signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import orjson

from scorers.alerts import BELOW_THRESHOLD, RECOVERED, SHARP_DROP
from streams.notify.owners import Owner

SIGNATURE_HEADER = "X-Relscore-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_MARKS = {"critical": ":red_circle:", "warning": ":warning:", "info": ":white_check_mark:"}


def headline(alert: Mapping[str, Any]) -> str:
    """One line: who, what happened, the score and its band.

    >>> headline({"type": "below_threshold", "customer_id": "acme-1", "score": 57.3,
    ...           "band": "fair", "threshold": 60.0, "severity": "warning"})
    'acme-1 fell below 60: 57.3 (fair)'
    >>> headline({"type": "sharp_drop", "customer_id": "acme-1", "score": 66.0, "band": "good",
    ...           "drop": 17.5, "window_days": 7})
    'acme-1 dropped 17.5 points in 7 days: 66.0 (good)'
    """
    who, score, band = alert["customer_id"], alert["score"], alert["band"]
    kind = alert["type"]
    if kind == BELOW_THRESHOLD:
        return f"{who} fell below {alert['threshold']:g}: {score} ({band})"
    if kind == SHARP_DROP:
        return (f"{who} dropped {alert['drop']} points in {alert['window_days']} days: "
                f"{score} ({band})")
    if kind == RECOVERED:
        return f"{who} recovered: {score} ({band})"
    return f"{who}: {kind} at {score} ({band})"


def webhook_body(alert: Mapping[str, Any], owner: Owner | None) -> bytes:
    """The alert's fields and its owner (null when nobody owns the customer), as JSON.

    >>> webhook_body({"alert_id": "a1", "customer_id": "c-1"}, None)
    b'{"alert_id":"a1","customer_id":"c-1","owner":null}'
    """
    owner_fields = None if owner is None else {
        "owner": owner.owner, "email": owner.email, "slack": owner.slack}
    return orjson.dumps({**alert, "owner": owner_fields})


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``body`` under ``secret``, as a receiver checks it.

    >>> signature("Jefe", b"what do ya want for nothing?")  # RFC 4231, test case 2
    'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_headers(alert_id: str, body: bytes, secret: str | None) -> dict[str, str]:
    """Content type, idempotency key and, with a secret, the body's signature.

    >>> sorted(webhook_headers("a1", b"{}", None))
    ['Content-Type', 'Idempotency-Key', 'User-Agent']
    """
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: alert_id,
               "User-Agent": "relscore-notify"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    return headers


def customer_link(page_url: str | None, customer_id: str) -> str | None:
    """The customer's details on the worker's HTTP API, when its public URL is known.

    >>> customer_link("https://relscore.example.com/", "acme 1")
    'https://relscore.example.com/customers/acme%201'
    """
    if not page_url:
        return None
    return f"{page_url.rstrip('/')}/customers/{quote(customer_id, safe='')}"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_owner(owner: Owner | None) -> str:
    if owner is None:
        return "nobody (fallback team)"
    name = _slack_escape(owner.owner)
    handle = owner.slack
    if handle and handle[0] in "UW" and handle.isalnum():  # a member id: a real mention
        return f"<@{handle}> ({name})"
    return f"{name} ({_slack_escape(handle)})" if handle else name


def _why(alert: Mapping[str, Any]) -> list[str]:
    return [f"{driver['component']} {driver['score']}: {driver['detail']}"
            for driver in alert.get("drivers") or ()]


def slack_payload(alert: Mapping[str, Any], owner: Owner | None,
                  link: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit) with a plain-text fallback.

    >>> message = slack_payload({"type": "recovered", "customer_id": "c-1", "score": 71.0,
    ...     "band": "good", "severity": "info", "previous_score": 57.1,
    ...     "as_of": "2026-07-14T00:00:00Z", "alert_id": "a1", "drivers": []}, None, None)
    >>> message["text"]
    ':white_check_mark: c-1 recovered: 71.0 (good)'
    >>> [block["type"] for block in message["blocks"]]
    ['section', 'section', 'context']
    """
    mark = _MARKS.get(str(alert.get("severity")), ":bell:")
    title = f"{mark} {_slack_escape(headline(alert))}"
    fields = [
        f"*Score*\n{alert['score']} (was {alert.get('previous_score')})",
        f"*Severity*\n{alert.get('severity')}",
        f"*Owner*\n{_slack_owner(owner)}",
        f"*Segment*\n{_slack_escape(str(alert.get('segment') or 'none'))}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text in fields]},
    ]
    why = _why(alert)
    if why:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Why*\n" + "\n".join(
            f"• {_slack_escape(line)}" for line in why)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(
        f"as of {alert.get('as_of')} · alert {alert.get('alert_id')}")}]})
    if link:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open the customer"},
            "url": link}]})
    return {"text": title, "blocks": blocks}


def email_message(alert: Mapping[str, Any], owner: Owner | None, sender: str, to: str,
                  link: str | None) -> EmailMessage:
    """A plain-text email of the alert, with its id as a header for threading and dedup.

    >>> mail = email_message({"type": "below_threshold", "customer_id": "c-1", "score": 57.3,
    ...     "band": "fair", "threshold": 60.0, "severity": "warning", "previous_score": 63.1,
    ...     "as_of": "2026-11-20T10:00:00Z", "alert_id": "a1",
    ...     "drivers": [{"component": "support", "score": 41.2, "detail": "2 urgent tickets"}]},
    ...     None, "relscore@example.com", "cs@example.com", None)
    >>> mail["Subject"]
    '[relscore warning] c-1 fell below 60: 57.3 (fair)'
    >>> print(mail.get_content().splitlines()[4])
    - support 41.2: 2 urgent tickets
    """
    mail = EmailMessage()
    mail["Subject"] = f"[relscore {alert.get('severity')}] {headline(alert)}"
    mail["From"] = sender
    mail["To"] = to
    mail["X-Relscore-Alert-Id"] = str(alert.get("alert_id"))
    lines = [
        headline(alert),
        f"Score {alert['score']} (was {alert.get('previous_score')}), as of {alert.get('as_of')}.",
        f"Owner: {'nobody (fallback team)' if owner is None else owner.owner}.",
        "Why:",
        *(f"- {line}" for line in _why(alert) or ["(no driver below its usual level)"]),
    ]
    if link:
        lines += ["", f"The customer: {link}"]
    lines += ["", f"Alert {alert.get('alert_id')}"]
    mail.set_content("\n".join(lines) + "\n")
    return mail


def digest_email(entries: Sequence[Mapping[str, Any]], sender: str, to: str, day: str,
                 page_url: str | None, digest: str) -> EmailMessage:
    """One email listing a day's alerts for one recipient, oldest first.

    >>> mail = digest_email([{"owner": "Ana", "alert": {"type": "recovered",
    ...     "customer_id": "c-1", "score": 71.0, "band": "good", "severity": "info",
    ...     "as_of": "2026-11-20T10:00:00Z", "alert_id": "a1", "drivers": []}}],
    ...     "relscore@example.com", "ana@example.com", "2026-11-20", None, "digest:m:a:d")
    >>> mail["Subject"], mail["X-Relscore-Digest-Id"]
    ('[relscore digest] 1 alert, 2026-11-20', 'digest:m:a:d')
    >>> print(mail.get_content().splitlines()[2])
    - [info] c-1 recovered: 71.0 (good), as of 2026-11-20T10:00:00Z
    """
    count = len(entries)
    mail = EmailMessage()
    mail["Subject"] = f"[relscore digest] {count} alert{'' if count == 1 else 's'}, {day}"
    mail["From"] = sender
    mail["To"] = to
    mail["X-Relscore-Digest-Id"] = digest
    lines = [f"The alerts of {day} for your customers, oldest first:", ""]
    for entry in entries:
        alert = entry["alert"]
        lines.append(f"- [{alert.get('severity')}] {headline(alert)}, as of {alert.get('as_of')}")
        lines += [f"    {line}" for line in _why(alert)]
        link = customer_link(page_url, str(alert["customer_id"]))
        if link:
            lines.append(f"    {link}")
    mail.set_content("\n".join(lines) + "\n")
    return mail
