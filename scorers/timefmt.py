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
    >>> format_ms(951782400000), format_ms(0)  # a leap day; the epoch
    ('2000-02-29T00:00:00Z', '1970-01-01T00:00:00Z')
    """
    ms = int(epoch_ms)
    if not 0 <= ms < _YEAR_10000_MS:
        # datetime's own range and errors outside the years 1970-9999.
        moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
        base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    else:
        # Integer arithmetic: a datetime and strftime per call cost more than the model.
        seconds = ms // 1000
        year, month, day = _civil_from_days(seconds // 86_400)
        second_of_day = seconds % 86_400
        base = (f"{year:04d}-{_TWO_DIGITS[month]}-{_TWO_DIGITS[day]}"
                f"T{_TWO_DIGITS[second_of_day // 3600]}:{_TWO_DIGITS[second_of_day // 60 % 60]}"
                f":{_TWO_DIGITS[second_of_day % 60]}")
    millis = ms % 1000
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The proleptic Gregorian (year, month, day) ``days`` after 1970-01-01 (days >= 0).

    Howard Hinnant's ``civil_from_days``: eras of 400 years, years starting in March.

    >>> _civil_from_days(0), _civil_from_days(11_016), _civil_from_days(20_512)
    ((1970, 1, 1), (2000, 2, 29), (2026, 2, 28))
    """
    z = days + 719_468
    era = z // 146_097
    day_of_era = z - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524
                   - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


_TWO_DIGITS: tuple[str, ...] = tuple(f"{number:02d}" for number in range(100))
_YEAR_10000_MS = 253_402_300_800_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
