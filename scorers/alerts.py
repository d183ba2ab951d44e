"""Alert rules: below-threshold with hysteresis, recovery, and sharp drops.

Alerts are a pure function of the previous alert state and the new evaluation, so a replay of
the same events yields the same alerts with the same deterministic ``alert_id``.
"""

from __future__ import annotations

from typing import Any

from scorers.config import AlertConfig
from scorers.model import Evaluation, band_of
from scorers.state import CustomerState
from scorers.timefmt import format_ms

BELOW_THRESHOLD = "below_threshold"
RECOVERED = "recovered"
SHARP_DROP = "sharp_drop"
ALERT_TYPES = (BELOW_THRESHOLD, RECOVERED, SHARP_DROP)
SEVERITIES = ("critical", "warning", "info")


def alert_id(customer_id: str, alert_type: str, as_of_ms: int) -> str:
    """The deterministic id of an alert: the same crossing always gets the same id.

    Examples:

    >>> alert_id("c-42", BELOW_THRESHOLD, 1795168800000)
    'c-42:below_threshold:2026-11-20T10:00:00Z'
    """
    return f"{customer_id}:{alert_type}:{format_ms(as_of_ms)}"


def _severity(alert_type: str, score: float, cfg: AlertConfig) -> str:
    if alert_type == RECOVERED:
        return "info"
    return "critical" if score < cfg.critical_below else "warning"


def _alert(
    state: CustomerState,
    alert_type: str,
    evaluation: Evaluation,
    score: float,
    previous: float | None,
    cfg: AlertConfig,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "alert_id": alert_id(state.customer_id, alert_type, evaluation.as_of),
        "type": alert_type,
        "severity": _severity(alert_type, score, cfg),
        "customer_id": state.customer_id,
        # routes match on it (streams.notify); None until an event has named one
        "segment": state.segment,
        "score": score,
        "previous_score": previous,
        "threshold": cfg.threshold,
        "band": band_of(score),  # of the published (rounded) score
        "drivers": [
            {"component": d.component, "score": d.score, "impact": d.impact, "detail": d.detail}
            for d in evaluation.drivers
        ],
        "confidence": evaluation.confidence,
        "evidence": state.evidence,
        "as_of": format_ms(evaluation.as_of),
    }
    if extra:
        message.update(extra)
    return message


def _presence(components: dict[str, float | None] | None) -> tuple[str, ...]:
    return tuple(sorted(name for name, value in (components or {}).items() if value is not None))


def check_alerts(
    state: CustomerState,
    evaluation: Evaluation,
    score: float,
    previous: float | None,
    cfg: AlertConfig,
) -> list[dict[str, Any]]:
    """Update ``state``'s alert memory in place for the new ``score`` and return new alerts.

    ``score`` is the rounded score being published; ``previous`` the last published score.

    Examples:

    With the default rules (threshold 60, recovery at 65, critical below 40, a drop of 15
    points within 7 days is sharp, at least 3 events of evidence to page):

    >>> from scorers.config import DAY_MS, DEFAULT_CONFIG
    >>> t0 = 1_795_168_800_000  # 2026-11-20T10:00:00Z
    >>> newcomer = CustomerState("c-1", first_ts=t0, ref_ts=t0, evidence=1)
    >>> check_alerts(newcomer, Evaluation(t0, 30.0, 30.0, {}, 0.2), 30.0, None,
    ...              DEFAULT_CONFIG.alerts), newcomer.below  # one event pages no one
    ([], False)
    >>> state = CustomerState("c-42", first_ts=t0, ref_ts=t0, evidence=12)
    >>> previous = None
    >>> for day, score in [(0, 72.0), (1, 58.0), (2, 62.0), (3, 66.0), (4, 49.0), (5, 35.0)]:
    ...     evaluation = Evaluation(t0 + day * DAY_MS, score, score, {}, confidence=0.8)
    ...     alerts = check_alerts(state, evaluation, score, previous, DEFAULT_CONFIG.alerts)
    ...     print(day, score, [(alert["type"], alert["severity"]) for alert in alerts])
    ...     previous = score
    0 72.0 []
    1 58.0 [('below_threshold', 'warning')]
    2 62.0 []
    3 66.0 [('recovered', 'info')]
    4 49.0 [('below_threshold', 'warning'), ('sharp_drop', 'warning')]
    5 35.0 []
    >>> check_alerts(state, Evaluation(t0 + 6 * DAY_MS, 19.0, 19.0, {}, 0.8), 19.0, 35.0,
    ...              DEFAULT_CONFIG.alerts)  # already below: the open alert says so
    []
    >>> fresh = CustomerState("c-7", first_ts=t0, ref_ts=t0, evidence=12)
    >>> check_alerts(fresh, Evaluation(t0, 72.0, 72.0, {}, 0.8), 72.0, None,
    ...              DEFAULT_CONFIG.alerts)
    []
    >>> alerts = check_alerts(fresh, Evaluation(t0 + DAY_MS, 30.0, 30.0, {}, 0.8), 30.0, 72.0,
    ...                       DEFAULT_CONFIG.alerts)
    >>> for alert in alerts:  # a fall through the threshold: both, critical under 40
    ...     print(alert["alert_id"], alert["severity"], alert.get("drop"))
    c-7:below_threshold:2026-11-21T10:00:00Z critical None
    c-7:sharp_drop:2026-11-21T10:00:00Z critical 42.0
    """
    alerts: list[dict[str, Any]] = []
    enough = state.evidence >= cfg.min_evidence
    was_below = state.below
    if not state.below and score < cfg.threshold and enough:
        state.below = True
        alerts.append(_alert(state, BELOW_THRESHOLD, evaluation, score, previous, cfg))
    elif state.below and score >= cfg.threshold + cfg.hysteresis:
        state.below = False
        alerts.append(_alert(state, RECOVERED, evaluation, score, previous, cfg))

    # Sharp drop: the window keeps a decreasing run of (time, score), so its head is the
    # highest score within the window. It starts once the evidence is there: a sharp drop is
    # a fall from an established level, not a first few events finding their level.
    if not enough:
        state.drop_window = []
        return alerts
    at = float(evaluation.as_of)
    if _presence(state.components) != _presence(evaluation.components):
        # A component appeared or left (a first purchase, a first ticket): the score now
        # weighs other evidence, which is new information, not a fall. Start a new window.
        state.drop_window = [[at, score]]
        return alerts
    window = [p for p in state.drop_window if p[0] >= at - cfg.sharp_drop_window_ms]
    peak = window[0][1] if window else score
    # A customer already below the threshold has an open alert saying so: a further fall is
    # in its score messages, and does not page again.
    if peak - score >= cfg.sharp_drop_points and not (was_below and state.below):
        extra = {"drop": round(peak - score, 1), "window_days": cfg.sharp_drop_window_ms / 86.4e6}
        alerts.append(_alert(state, SHARP_DROP, evaluation, score, previous, cfg, extra))
        window = [[at, score]]
    else:
        while window and window[-1][1] <= score:
            window.pop()
        window.append([at, score])
    state.drop_window = window
    return alerts
