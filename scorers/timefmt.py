"""Event-time parsing and formatting: RFC 3339 strings and epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

# Earliest event time accepted. Real histories go back decades (the 1990s and before), but
# epoch seconds sent as milliseconds land in January 1970 for any date up to the year 2969, so
# a floor at 1971 still catches that unit mistake.
MIN_EVENT_MS = 31_536_000_000  # 1971-01-01T00:00:00Z
MAX_EVENT_MS = 32_503_680_000_000  # 3000-01-01T00:00:00Z


def parse_rfc3339_ms(text: str) -> int:
    """Parse an RFC 3339 timestamp with an explicit offset (``Z`` or ``+hh:mm``) to epoch ms.

    Raises ValueError when the text is not RFC 3339 or has no offset.

    Examples:

    >>> parse_rfc3339_ms("2026-11-20T10:00:00Z")
    1795168800000
    >>> parse_rfc3339_ms("2026-11-20T11:00:00.250+01:00")  # the same instant, plus 250 ms
    1795168800250
    >>> parse_rfc3339_ms("2026-11-20T10:00:00.000")
    Traceback (most recent call last):
      ...
    ValueError: RFC 3339 timestamp needs an offset (Z or +hh:mm)
    """
    if len(text) < 20 or text[10] not in "Tt ":
        raise ValueError("not an RFC 3339 timestamp like 2026-11-20T10:00:00Z")
    normalised = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    parsed = datetime.fromisoformat(normalised)
    if parsed.tzinfo is None:
        raise ValueError("RFC 3339 timestamp needs an offset (Z or +hh:mm)")
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_ms(epoch_ms: int | float) -> str:
    """Format epoch milliseconds as RFC 3339 UTC: ``2026-11-20T10:00:00Z`` (ms when non-zero).

    Examples:

    >>> format_ms(1795168800000)
    '2026-11-20T10:00:00Z'
    >>> format_ms(1795168800250)
    '2026-11-20T10:00:00.250Z'
    >>> format_ms(parse_rfc3339_ms("2026-11-20T11:00:00+01:00"))  # always rendered in UTC
    '2026-11-20T10:00:00Z'
    """
    ms = int(epoch_ms)
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = ms % 1000
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
