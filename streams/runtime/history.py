"""Score history in the Redis read model: one point per customer per event-time UTC day.

``{prefix}history:{id}`` is a list, oldest day first, of at most :data:`HISTORY_DAYS`
elements. Each element is the day's last score message, encoded compactly
(:func:`encode_point`): 5 digits of day number and 13 of event-time ms (so the Lua script
orders and replaces by a string prefix, without decoding JSON), then a JSON array
``[score, band, components]``. ``as_of`` is not stored: it is the ms rendered as
the scorer renders it (:func:`scorers.timefmt.format_ms`).

The script (:data:`PUT_POINT`, many points a call: ``KEYS`` the history lists, ``ARGV`` the
number of days to keep, then the elements) replaces the element of the same day when the new
point's as_of is later or equal, inserts a new day in its place (usually the tail), trims the
list to the newest :data:`HISTORY_DAYS` days, and ignores a day older than a full list's
oldest: re-projecting or redelivering a message leaves the list as it was (idempotent),
whatever the batching.

``{prefix}alerts:{id}`` is a sorted set of the customer's alerts scored by as_of ms, member
``alert_id \\t json`` (a re-sent alert replaces its copy), at most :data:`MAX_ALERTS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from scorers.timefmt import format_ms, parse_rfc3339_ms

HISTORY_DAYS = 430  # >= 400 days of history, with a month to spare
# Per customer: the rules page at most once per crossing, a few times a month for the worst;
# an alert with its drivers and change is about 1.5 KB in Redis.
MAX_ALERTS = 60
DAY_MS = 86_400_000
PREFIX_CHARS = 18  # 5 digits of day, 13 of epoch ms

# KEYS[1] history list; ARGV: day (5 digits), ms (13 digits), element, max days.
PUT_POINT = """
local keep = tonumber(ARGV[1])
local function put(key, day, ms, elem)
  local n = redis.call('LLEN', key)
  local i = n - 1
  while i >= 0 do
    local cur = redis.call('LINDEX', key, i)
    local cday = string.sub(cur, 1, 5)
    if cday == day then
      if string.sub(cur, 6, 18) <= ms then
        redis.call('LSET', key, i, elem)
      end
      return
    elseif cday < day then
      if i == n - 1 then
        redis.call('RPUSH', key, elem)
      else
        redis.call('LINSERT', key, 'AFTER', cur, elem)
      end
      redis.call('LTRIM', key, -keep, -1)
      return
    end
    i = i - 1
  end
  if n < keep then
    redis.call('LPUSH', key, elem)
  end
end
for k = 1, #KEYS do
  local elem = ARGV[k + 1]
  put(KEYS[k], string.sub(elem, 1, 5), string.sub(elem, 6, 18), elem)
end
return #KEYS
"""
# Points per script call: one call carries many (the projector's Python side then packs one
# command, not one per point), and a call stays short enough not to hold Redis up.
POINTS_PER_CALL = 200

# KEYS[1] alerts zset; ARGV: as_of ms, alert id, member, max alerts.
PUT_ALERT = """
local key, ms, id, member, keep = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local head = id .. '\\t'
for _, old in ipairs(redis.call('ZRANGEBYSCORE', key, ms, ms)) do
  if string.sub(old, 1, #head) == head then
    redis.call('ZREM', key, old)
  end
end
redis.call('ZADD', key, ms, member)
redis.call('ZREMRANGEBYRANK', key, 0, -(keep + 1))
return 1
"""


def history_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}history:{customer_id}"


def alerts_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}alerts:{customer_id}"


def day_number(epoch_ms: int) -> int:
    """The UTC day of an event time, counted from the epoch.

    >>> day_number(0), day_number(DAY_MS - 1), day_number(DAY_MS)
    (0, 0, 1)
    >>> day_number(parse_rfc3339_ms("2026-07-16T23:59:59.999Z"))
    20650
    """
    return epoch_ms // DAY_MS


def day_text(day: int) -> str:
    """A day number as ``YYYY-MM-DD``.

    >>> day_text(20650), day_text(0)
    ('2026-07-16', '1970-01-01')
    """
    return format_ms(day * DAY_MS)[:10]


def encode_point(message: Mapping[str, Any]) -> tuple[int, int, str]:
    """``(day, ms, element)`` of a score message; raises KeyError, TypeError or ValueError
    when it has no usable ``as_of`` or ``score``.

    >>> day, ms, elem = encode_point({"as_of": "2026-07-16T10:00:00Z", "score": 55.2,
    ...     "band": "fair", "components": {"support": 41.0}})
    >>> day, elem
    (20650, '206501784196000000[55.2,"fair",{"support":41.0}]')
    >>> encode_point({"as_of": "2026-07-16T10:00:00Z", "score": 1, "band": "poor",
    ...     "components": {}, "change": [{"component": "support"}]})[2][18:]  # not kept
    '[1.0,"poor",{}]'
    """
    ms = parse_rfc3339_ms(message["as_of"])
    if not 0 <= ms < 10**13:
        raise ValueError("as_of out of range")
    body: list[Any] = [float(message["score"]), message.get("band"),
                       message.get("components") or {}]
    day = day_number(ms)
    return day, ms, f"{day:05d}{ms:013d}" + orjson.dumps(body).decode()


def decode_point(element: bytes | str) -> dict[str, Any]:
    """A history element as an API point.

    >>> point = decode_point('206501784196000000[55.2,"fair",{"support":41.0}]')
    >>> point["as_of"], point["score"], point["band"], point["components"]
    ('2026-07-16T10:00:00Z', 55.2, 'fair', {'support': 41.0})
    """
    text = element.decode() if isinstance(element, bytes) else element
    body = orjson.loads(text[PREFIX_CHARS:])
    point: dict[str, Any] = {"as_of": format_ms(int(text[5:PREFIX_CHARS])), "score": body[0],
                             "band": body[1], "components": body[2]}
    return point


def element_ms(element: bytes | str) -> int:
    """The event-time ms an element is for.

    >>> element_ms('206501784196000000[1.0,"poor",{}]')
    1784196000000
    """
    text = element.decode() if isinstance(element, bytes) else element
    return int(text[5:PREFIX_CHARS])


def put_point(days: list[str], element: str, keep: int = HISTORY_DAYS) -> bool:
    """What :data:`PUT_POINT` does to a list, in Python (the rule the tests check the
    script against): True when the list changed.

    >>> days = []
    >>> put_point(days, "00002" + "0" * 13 + "b", keep=2)
    True
    >>> put_point(days, "00001" + "0" * 13 + "a", keep=2)  # an older day, put in place
    True
    >>> put_point(days, "00003" + "0" * 13 + "c", keep=2)  # trims the oldest
    True
    >>> put_point(days, "00001" + "0" * 13 + "x", keep=2)  # older than a full list: ignored
    False
    >>> put_point(days, "00003" + "0" * 12 + "1" + "d", keep=2)  # later in the same day
    True
    >>> [d[:5] + d[18:] for d in days]
    ['00002b', '00003d']
    """
    day, ms = element[:5], element[5:PREFIX_CHARS]
    for i in range(len(days) - 1, -1, -1):
        cur = days[i]
        if cur[:5] == day:
            if cur[5:PREFIX_CHARS] <= ms:
                days[i] = element
                return True
            return False
        if cur[:5] < day:
            days.insert(i + 1, element)
            del days[:max(0, len(days) - keep)]
            return True
    if len(days) >= keep:
        return False
    days.insert(0, element)
    return True


def day_last_points(messages: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], str]:
    """The last message of each (customer, day), in the order given (topic order), encoded;
    the messages without a usable as_of are left out.

    >>> points = day_last_points([
    ...     {"customer_id": "a", "as_of": "2026-07-16T10:00:00Z", "score": 50, "band": "fair"},
    ...     {"customer_id": "a", "as_of": "2026-07-16T12:00:00Z", "score": 45, "band": "fair"},
    ...     {"customer_id": "a", "as_of": "2026-07-17T01:00:00Z", "score": 44, "band": "fair"}])
    >>> sorted((day, elem[18:]) for (_, day), elem in points.items())
    [(20650, '[45.0,"fair",{}]'), (20651, '[44.0,"fair",{}]')]
    """
    out: dict[tuple[str, int], str] = {}
    for message in messages:
        try:
            day, _, element = encode_point(message)
        except (KeyError, TypeError, ValueError):
            continue
        out[(str(message["customer_id"]), day)] = element
    return out


def alert_member(alert: Mapping[str, Any]) -> tuple[int, str, str]:
    """``(as_of ms, alert_id, member)`` of an alert message; raises KeyError, TypeError or
    ValueError when it has no alert_id or as_of.

    >>> alert_member({"alert_id": "c:below_threshold:2026-07-16T10:00:00Z",
    ...               "as_of": "2026-07-16T10:00:00Z"})[0]
    1784196000000
    """
    alert_id = str(alert["alert_id"])
    if "\t" in alert_id:
        raise ValueError("alert_id holds a tab")
    ms = parse_rfc3339_ms(alert["as_of"])
    return ms, alert_id, f"{alert_id}\t" + orjson.dumps(dict(alert)).decode()


def decode_alert(member: bytes | str) -> dict[str, Any]:
    """An alerts-zset member as the alert message.

    >>> decode_alert(b'c:x:t\\t{"alert_id":"c:x:t"}')
    {'alert_id': 'c:x:t'}
    """
    text = member.decode() if isinstance(member, bytes) else member
    value: dict[str, Any] = orjson.loads(text.split("\t", 1)[1])
    return value
