"""The history's pure rules: one point per day, the day's last, bounded, whatever the batching."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from scorers.config import DAY_MS
from scorers.timefmt import format_ms
from streams.runtime.history import (
    day_last_points,
    decode_point,
    encode_point,
    put_point,
)
from streams.runtime.trend import below_since, change_over

START = 1_780_272_000_000  # 2026-06-01


def message(ms: int, score: float) -> dict[str, Any]:
    return {"customer_id": "c", "as_of": format_ms(ms), "score": score, "band": "fair",
            "components": {"support": score}}


def project(stream: list[dict[str, Any]], cuts: list[int], keep: int,
            replay_from: int) -> list[str]:
    """The stream in batches split at ``cuts``, then re-projected from ``replay_from``."""
    days: list[str] = []
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        for element in day_last_points(stream[lo:hi]).values():
            put_point(days, element, keep)
    for element in day_last_points(stream[replay_from % (len(stream) + 1):]).values():
        put_point(days, element, keep)
    return days


offsets = st.lists(st.tuples(st.integers(0, 40 * DAY_MS), st.floats(0, 100)), min_size=1,
                   max_size=60)


@given(offsets, st.lists(st.integers(0, 100), max_size=6), st.integers(0, 100),
       st.integers(5, 50))
def test_batching_and_replay_give_the_last_point_of_each_kept_day(
        points: list[tuple[int, float]], cuts: list[int], replay_from: int, keep: int) -> None:
    stream = [message(START + ms, round(score, 1)) for ms, score in sorted(points)]
    got = project(stream, cuts, keep, replay_from)
    last: dict[int, dict[str, Any]] = {}
    for m in stream:
        last[encode_point(m)[0]] = m
    want = [encode_point(last[d])[2] for d in sorted(last)][-keep:]
    assert got == want


def test_a_point_round_trips_and_leaves_the_change_to_the_messages() -> None:
    change = [{"component": "support", "points": -16.2, "from": 82.0, "to": 41.0,
               "detail": "2 urgent tickets open past SLA", "text": "-16.2: support 82 -> 41"}]
    for extra in ({}, {"change": change}):
        m = {**message(START, 41.5), **extra}
        point = decode_point(encode_point(m)[2])
        assert point == {k: m[k] for k in ("as_of", "score", "band", "components")}


def test_an_earlier_message_of_the_same_day_does_not_replace_a_later_one() -> None:
    days: list[str] = []
    put_point(days, encode_point(message(START + 5000, 50.0))[2])
    assert not put_point(days, encode_point(message(START + 1000, 70.0))[2])
    assert decode_point(days[0])["score"] == 50.0


def test_change_over_days_and_below_since() -> None:
    pts = [(0, 80.0), (10 * DAY_MS, 65.0), (20 * DAY_MS, 55.0), (30 * DAY_MS, 40.0)]
    assert change_over(pts, 30 * DAY_MS, 40.0, 7) == -15.0
    assert change_over(pts, 30 * DAY_MS, 40.0, 30) == -40.0
    assert change_over(pts, 30 * DAY_MS, 40.0, 31) is None
    assert below_since(pts, 60.0, [], complete=True) == format_ms(20 * DAY_MS)
    assert below_since(pts[2:], 60.0, [], complete=False) is None
    assert below_since(pts[2:], 60.0, [], complete=True) == format_ms(20 * DAY_MS)
