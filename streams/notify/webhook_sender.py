"""POSTing one notification to a webhook (a generic receiver or Slack), with retries.

A 2xx answer delivers. A timeout, a refused connection, 408, 425, 429 and 5xx are retried with
exponential backoff (a ``Retry-After`` in seconds is honoured, up to the cap); any other answer
is final, since sending the same request again would get the same one. The destination's URL
is a secret: an outcome's reason and the log name the destination, never the URL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from streams.notify.routes import Destination

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delivery ended: delivered, or why not after how many attempts."""

    delivered: bool
    attempts: int
    reason: str | None = None
    status: int | None = None


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: the receiver's ``Retry-After`` when it
    gives seconds, else 0.5 s doubled per attempt; at most 30 s.

    >>> [retry_delay(n, None) for n in (1, 2, 3)], retry_delay(9, None)
    ([0.5, 1.0, 2.0], 30.0)
    >>> retry_delay(1, "4"), retry_delay(1, "3600"), retry_delay(1, "Wed, 21 Oct 2026 07:28:00 GMT")
    (4.0, 30.0, 0.5)
    """
    if retry_after is not None and retry_after.strip().isdigit():
        return min(MAX_BACKOFF_S, float(retry_after.strip()))
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * float(2.0 ** (attempt - 1)))


async def post_with_retries(
    session: aiohttp.ClientSession, destination: Destination, body: bytes,
    headers: Mapping[str, str], *, sleep: Sleep = asyncio.sleep,
) -> Outcome:
    """POST ``body`` to ``destination`` until it is taken, refused for good, or
    ``destination.retries`` retries have failed."""
    if destination.url is None:
        return Outcome(False, 0, "the destination has no URL")
    timeout = aiohttp.ClientTimeout(total=destination.timeout_s)
    reason = ""
    status: int | None = None
    for attempt in range(1, destination.retries + 2):
        retry_after: str | None = None
        try:
            async with session.post(destination.url, data=body, headers=dict(headers),
                                    timeout=timeout, allow_redirects=False) as response:
                status = response.status
                if 200 <= status < 300:
                    return Outcome(True, attempt, status=status)
                reason = f"HTTP {status}"
                if status not in RETRIED_STATUSES and status < 500:
                    if 300 <= status < 400:
                        reason += " (a redirect: give the URL it points to)"
                    return Outcome(False, attempt, f"{reason}, not retried", status)
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            reason, status = f"no answer within {destination.timeout_s:g} s", None
        except aiohttp.ClientError as exc:
            reason, status = f"cannot reach it ({exc.__class__.__name__})", None
        if attempt <= destination.retries:
            log.info("delivery to %s failed (%s); retry %d of %d", destination.name, reason,
                     attempt, destination.retries)
            await sleep(retry_delay(attempt, retry_after))
    attempts = destination.retries + 1
    return Outcome(False, attempts, f"{reason} after {attempts} attempts", status)
