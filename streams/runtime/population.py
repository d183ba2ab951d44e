"""Customers per band at the end of each event-time day, and the score histogram.

``{prefix}population`` is a sorted set scored by day number, one member per day,
``"{day}:{excellent},{good},{fair},{poor}"``, at most :data:`~streams.runtime.history.HISTORY_DAYS`
days. The projector snapshots it (:data:`SNAPSHOT`, counting ``{prefix}scores`` by band edge
with ZCOUNT) when its event time (the latest as_of it has read) crosses into a later UTC day:
the counts are those of every score it had written by then. The histogram is counted on
request from the same ``{prefix}scores`` set.
"""

from __future__ import annotations

from typing import Any

from scorers.model import BAND_NAMES, BANDS

BUCKETS = 10

# KEYS[1] scores zset, KEYS[2] population zset; ARGV: first day, last day, days kept,
# then the band floors from the highest (80, 60, 40).
SNAPSHOT = """
local scores, pop = KEYS[1], KEYS[2]
local first, last, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local counts, upper = {}, '+inf'
for i = 4, #ARGV do
  table.insert(counts, redis.call('ZCOUNT', scores, ARGV[i], upper))
  upper = '(' .. ARGV[i]
end
table.insert(counts, redis.call('ZCOUNT', scores, '-inf', upper))
local text = table.concat(counts, ',')
if first < last - keep + 1 then
  first = last - keep + 1
end
for day = first, last do
  redis.call('ZREMRANGEBYSCORE', pop, day, day)
  redis.call('ZADD', pop, day, day .. ':' .. text)
end
redis.call('ZREMRANGEBYSCORE', pop, '-inf', '(' .. (last - keep + 1))
return text
"""


def population_key(prefix: str) -> str:
    return f"{prefix}population"


def band_floors() -> list[str]:
    """The band floors, highest first, as SNAPSHOT takes them.

    >>> band_floors()
    ['80.0', '60.0', '40.0']
    """
    return [str(floor) for floor, _ in BANDS]


def decode_day(member: bytes | str) -> tuple[int, dict[str, int]]:
    """A population member as ``(day, counts by band)``.

    >>> decode_day(b"20650:31,10,0,7")
    (20650, {'excellent': 31, 'good': 10, 'fair': 0, 'poor': 7})
    """
    text = member.decode() if isinstance(member, bytes) else member
    day, counts = text.split(":", 1)
    return int(day), dict(zip(BAND_NAMES, map(int, counts.split(",")), strict=True))


def histogram_ranges() -> list[tuple[str, str, int, int]]:
    """ZCOUNT ranges of the 10-point buckets: ``[from, to)``, the last one ``[90, 100]``.

    >>> histogram_ranges()[0], histogram_ranges()[-1]
    (('0', '(10', 0, 10), ('90', '100', 90, 100))
    >>> len(histogram_ranges())
    10
    """
    width = 100 // BUCKETS
    out = []
    for i in range(BUCKETS):
        low, high = i * width, (i + 1) * width
        out.append((str(low), str(high) if i == BUCKETS - 1 else f"({high}", low, high))
    return out


def histogram(counts: list[int]) -> list[dict[str, Any]]:
    """The histogram as the API gives it, from the counts of :func:`histogram_ranges`.

    >>> histogram([1] * 10)[9]
    {'from': 90, 'to': 100, 'count': 1}
    """
    return [{"from": low, "to": high, "count": count}
            for (_, _, low, high), count in zip(histogram_ranges(), counts, strict=True)]
