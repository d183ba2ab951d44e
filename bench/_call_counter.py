"""Counting calls of a module function in a benchmark (decay re-scores, say)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def count_calls(module: object, name: str) -> Callable[[], int]:
    """Replace ``module.name`` by a wrapper that counts its calls; returns the counter.

    >>> from types import SimpleNamespace
    >>> tools = SimpleNamespace(double=lambda x: 2 * x)
    >>> calls = count_calls(tools, "double")
    >>> tools.double(2), tools.double(5), calls()
    (4, 10, 2)
    """
    real = getattr(module, name)
    count = 0

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return real(*args, **kwargs)

    setattr(module, name, counting)
    return lambda: count
