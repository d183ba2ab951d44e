"""Trends from a customer's daily points: the change over N days, and since when it is below.

Points are ``(as_of ms, score)`` pairs, oldest first (:mod:`streams.runtime.history`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scorers.timefmt import format_ms, parse_rfc3339_ms

DAY_MS = 86_400_000
Point = tuple[int, float]


def change_over(points: Sequence[Point], now_ms: int, now_score: float,
                days: int) -> float | None:
    """``now_score`` minus the score of the last point at or before ``now_ms - days``;
    None when there is no such point.

    >>> points = [(0, 80.0), (3 * DAY_MS, 70.0), (8 * DAY_MS, 50.0)]
    >>> change_over(points, 10 * DAY_MS, 45.0, 7)  # the point at day 3
    -25.0
    >>> change_over(points, 10 * DAY_MS, 45.0, 30) is None
    True
    >>> change_over(points, 3 * DAY_MS, 70.0, 3)
    -10.0
    """
    cutoff = now_ms - days * DAY_MS
    before = [score for ms, score in points if ms <= cutoff]
    if not before:
        return None
    return round(now_score - before[-1], 1)


def below_since(points: Sequence[Point], threshold: float,
                alerts: Sequence[Mapping[str, Any]], complete: bool) -> str | None:
    """When the current spell under ``threshold`` began: the as_of of the last
    ``below_threshold`` alert when no ``recovered`` alert followed it; else the first point
    of the trailing run of points under the threshold. None when the latest point is not
    under it, or when the run reaches the first point given and ``complete`` is False (the
    points are a window, and the spell may have begun before it).

    >>> pts = [(0, 70.0), (DAY_MS, 55.0), (2 * DAY_MS, 50.0)]
    >>> below_since(pts, 60.0, [], complete=True)
    '1970-01-02T00:00:00Z'
    >>> below_since(pts[1:], 60.0, [], complete=False) is None
    True
    >>> alert = {"type": "below_threshold", "as_of": "1970-01-01T12:00:00Z"}
    >>> below_since(pts, 60.0, [alert], complete=True)
    '1970-01-01T12:00:00Z'
    >>> recovered = {"type": "recovered", "as_of": "1970-01-01T18:00:00Z"}
    >>> below_since(pts, 60.0, [alert, recovered], complete=True)  # the history says
    '1970-01-02T00:00:00Z'
    >>> below_since([(0, 75.0)], 60.0, [], complete=True) is None
    True
    """
    if not points or points[-1][1] >= threshold:
        return None
    for alert in reversed(alerts):
        kind = alert.get("type")
        if kind == "recovered":
            break
        if kind == "below_threshold":
            return format_ms(parse_rfc3339_ms(alert["as_of"]))
    start = len(points) - 1
    while start > 0 and points[start - 1][1] < threshold:
        start -= 1
    if start == 0 and not complete:
        return None
    return format_ms(points[start][0])
