"""What changed: the components that moved the score since the last published one.

Each score message (and each alert) carries ``change``: one entry per component whose own
value moved, largest first, each with ``points``, the move in points of the composite (the
entries add up to the score's move, give or take rounding), ``from`` and ``to``, the
component's published values, and ``detail``, the sentence of its worst part now.

The state keeps what each component cost at the last published score (``CustomerState.lost``),
so the same events always give the same change, live or replayed.
"""

from __future__ import annotations

from typing import Any

from scorers.config import COMPONENTS
from scorers.model import Evaluation

MIN_POINTS = 0.1


def lost_points(evaluation: Evaluation) -> list[float | None]:
    """What each component costs the composite, in ``COMPONENTS`` order (None: no share), to
    two decimals: what the state keeps for the next change.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.state import CustomerState
    >>> t0 = 1_795_168_800_000
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, products={"crm": t0})
    >>> from scorers.model import evaluate
    >>> lost_points(evaluate(state, t0, cfg))
    [None, 75.0, None, None, None, None]
    """
    losses = evaluation.losses
    out: list[float | None] = []
    for name in COMPONENTS:
        loss = losses.get(name)
        out.append(None if loss is None else round(loss.points, 2))
    return out


def _value(value: float | None, digits: int) -> str:
    return "no data" if value is None else f"{value:.{digits}f}"


def change_text(component: str, points: float, before: float | None, after: float | None,
                detail: str) -> str:
    """The one-line form of a change entry.

    Examples:

    >>> change_text("support", -16.2, 82.0, 41.3, "2 urgent tickets open past SLA")
    '-16.2: support 82 -> 41, 2 urgent tickets open past SLA'
    >>> change_text("engagement", 3.0, None, 70.0, "")
    '+3.0: engagement no data -> 70'
    >>> change_text("purchase", -0.2, 84.4, 84.2, "no purchase in 36 days")  # tenths if need be
    '-0.2: purchase 84.4 -> 84.2, no purchase in 36 days'
    """
    digits = 1 if before is not None and after is not None and round(before) == round(after) else 0
    text = f"{points:+.1f}: {component} {_value(before, digits)} -> {_value(after, digits)}"
    return f"{text}, {detail}" if detail else text


def change_since(previous: float | None, lost: list[float | None] | None,
                 components: dict[str, float | None] | None,
                 evaluation: Evaluation) -> list[dict[str, Any]]:
    """The change from the last published score (``previous``, with its ``lost`` points and
    ``components``) to ``evaluation``; empty when there is no published score to compare with.

    The components whose own value moved are named. A component whose value stayed put can
    still weigh differently (another one gained data, so every share shrank), and a score
    without data sits at the prior: what the named components' own moves leave of the score's
    move goes to them in proportion to those moves, so that the entries add up to it.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.model import evaluate
    >>> from scorers.state import CustomerState
    >>> from scorers.config import HOUR_MS
    >>> t0 = 1_795_168_800_000
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, evidence=6,
    ...                       products={"crm": t0, "billing": t0})
    >>> before = evaluate(state, t0, cfg)
    >>> state.open_tickets = {"t-1": [3, t0 - 20 * HOUR_MS], "t-2": [3, t0 - 30 * HOUR_MS]}
    >>> after = evaluate(state, t0, cfg)
    >>> round(before.score, 1), round(after.score, 1)
    (50.0, 25.9)
    >>> for entry in change_since(50.0, lost_points(before), before.components, after):
    ...     print(entry["text"])
    -24.1: support no data -> 14, 2 urgent tickets open past SLA (oldest 30 h)
    >>> change_since(None, None, None, after)
    []
    """
    return step_change(previous, lost, components, evaluation)[0]


def step_change(previous: float | None, lost: list[float | None] | None,
                components: dict[str, float | None] | None,
                evaluation: Evaluation) -> tuple[list[dict[str, Any]], list[float | None]]:
    """:func:`change_since` and :func:`lost_points` together: what the scorer publishes
    and what it keeps for the next change.

    Examples:

    >>> from scorers.config import DEFAULT_CONFIG as cfg
    >>> from scorers.model import evaluate
    >>> from scorers.state import CustomerState
    >>> t0 = 1_795_168_800_000
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, products={"crm": t0})
    >>> step_change(None, None, None, evaluate(state, t0, cfg))
    ([], [None, 75.0, None, None, None, None])
    """
    new_lost = lost_points(evaluation)
    if previous is None or lost is None:
        return [], new_lost
    losses = evaluation.losses
    before_components = components or {}
    now_components = evaluation.components
    named: list[str] = []
    named_moves: list[float] = []
    for name, old, new in zip(COMPONENTS, lost, new_lost, strict=False):
        if (old is not None or new is not None) and (
                before_components.get(name) != now_components.get(name)):
            named.append(name)
            named_moves.append((0.0 if old is None else old) - (0.0 if new is None else new))
    if not named:  # only the weights moved (a new segment): every share is a move of its own
        for name, old, new in zip(COMPONENTS, lost, new_lost, strict=False):
            if old is not None or new is not None:
                named.append(name)
                named_moves.append((0.0 if old is None else old) - (0.0 if new is None else new))
    if not named:
        return [], new_lost
    residual = (evaluation.score - previous) - sum(named_moves)
    own = 0.0
    for move in named_moves:
        own += abs(move)
    entries: list[tuple[float, str, dict[str, Any]]] = []
    for name, move in zip(named, named_moves, strict=True):
        share = abs(move) / own if own > 0 else 1.0 / len(named)
        points = round(move + residual * share, 1)
        if abs(points) < MIN_POINTS:
            continue
        before = before_components.get(name)
        after = now_components.get(name)
        loss = losses.get(name)
        detail = "" if loss is None else loss.detail
        entries.append((-abs(points), name, {
            "component": name, "points": points, "from": before, "to": after, "detail": detail,
            "text": change_text(name, points, before, after, detail),
        }))
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return [entry for _, _, entry in entries], new_lost
