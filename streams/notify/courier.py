"""Delivering one alert to one destination, whatever its kind: render, then send.

A webhook gets the signed JSON body, Slack its Block Kit message, email a plain-text mail to
the destination's address or the customer's owner. Retries happen inside the senders; the
outcome says how it ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from streams.notify.email_sender import send_with_retries
from streams.notify.messages import (
    IDEMPOTENCY_HEADER,
    customer_link,
    email_message,
    slack_payload,
    webhook_body,
    webhook_headers,
)
from streams.notify.owners import Owner
from streams.notify.routes import OWNER, Destination
from streams.notify.webhook_sender import Outcome, Sleep, post_with_retries


def email_address(destination: Destination, owner: Owner | None) -> str | None:
    """Who an email destination writes to: its address, or the owner's for ``to = "owner"``.

    >>> email_address(Destination("mail", "email", to="owner"), Owner("c", "Ana", "a@x.io", None))
    'a@x.io'
    >>> email_address(Destination("mail", "email", to="owner"), None) is None
    True
    """
    if destination.to == OWNER:
        return None if owner is None else owner.email
    return destination.to


async def deliver(session: aiohttp.ClientSession, destination: Destination,
                  alert: Mapping[str, Any], owner: Owner | None, page_url: str | None,
                  sleep: Sleep) -> Outcome:
    """Send ``alert`` (of a customer ``owner`` owns, None: nobody) to ``destination``."""
    alert_id = str(alert["alert_id"])
    link = customer_link(page_url, str(alert["customer_id"]))
    if destination.kind == "webhook":
        body = webhook_body(alert, owner)
        return await post_with_retries(session, destination, body,
                                       webhook_headers(alert_id, body, destination.secret),
                                       sleep=sleep)
    if destination.kind == "slack":
        body = orjson.dumps(slack_payload(alert, owner, link))
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: alert_id}
        return await post_with_retries(session, destination, body, headers, sleep=sleep)
    to = email_address(destination, owner)
    if to is None:
        return Outcome(False, 0, "nobody to address (the customer's owner has no email)")
    message = email_message(alert, owner, str(destination.sender), to, link)
    return await send_with_retries(destination, message, sleep=sleep)
