"""Query parameters of the worker's HTTP views, checked: a bad one is a :class:`BadParameter`
whose detail says what is allowed (the views answer it as a 400)."""

from __future__ import annotations

from collections.abc import Mapping


class BadParameter(ValueError):
    """A query parameter out of its range: ``code`` and a detail that says what is allowed."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def int_parameter(query: Mapping[str, str], name: str, default: int, low: int,
                  high: int) -> int:
    """The integer query parameter ``name`` in ``low..high``, or ``default`` when absent.

    >>> int_parameter({"days": "30"}, "days", 90, 1, 430), int_parameter({}, "days", 90, 1, 430)
    (30, 90)
    >>> int_parameter({"days": "0"}, "days", 90, 1, 430)
    Traceback (most recent call last):
    ...
    streams.runtime.query.BadParameter: days must be an integer 1..430, got '0'
    """
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadParameter(f"bad_{name}", f"{name} must be an integer {low}..{high}, got {raw!r}")
    return value
