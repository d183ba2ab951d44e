"""``relscore backtest``: does a low score mean a customer at risk?

A score is a claim about the future, so it is checked the way a forecast is: every customer is
scored at a cut from the events before it (as a live worker would have scored them then), and
the scores are compared with what each customer went on to do within a horizon after the cut.
The outcome comes from an outcomes file (``{"customer_id": ..., "churned": true|false}``,
optionally with ``"at"``, the churn time) or, without one, from the events after the cut:
*churned* is no purchase and no interaction within the horizon.

What is measured, per scoring config:

- ``auc``: the chance that a customer who churned scores below one who did not (0.5 is a coin,
  1.0 a perfect ranking), with its 95% interval (``margins``), beside the same figure for two
  baselines a spreadsheet gives:
  ``recency`` (days since the last purchase or interaction) and ``frequency`` (purchases and
  interactions before the cut);
- the threshold alert: of the customers in an open ``below_threshold`` alert at the cut, the
  share who churned (``precision``), the share of churners it caught (``recall``), and how
  many times the base churn rate its precision is (``lift``);
- the churn rate per band, which must fall from ``poor`` to ``excellent`` (bands of fewer
  than 10 customers are shown but not judged);
- the median lead time, in days, from the ``below_threshold`` alert that was still open when a
  customer churned to the churn (outcomes with ``at`` only);
- the noise: alerts that page (``below_threshold``, ``sharp_drop``) per 100 customers per month
  before the cut.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import orjson

from scorers.config import DAY_MS, ScoringConfig
from scorers.events import (
    InteractionEvent,
    InvalidEvent,
    Limits,
    PurchaseEvent,
    parse_payload,
    validate_event,
)
from scorers.model import BAND_NAMES
from scorers.timefmt import format_ms, parse_rfc3339_ms
from streams.tools.offline_scoring import FILE_TOPICS, OfflineResult, score_lines

MONTH_MS = 30 * DAY_MS
PAGING = ("below_threshold", "sharp_drop")
# The smallest band whose churn rate counts in the monotonicity check.
MIN_BAND = 10


@dataclass(frozen=True)
class Outcome:
    """What a customer did after the cut: churned or not, and when (epoch ms) if known."""

    churned: bool
    at_ms: int | None = None


@dataclass
class Outcomes:
    """Outcomes by customer id, and the lines that could not be read (line number, error)."""

    by_customer: dict[str, Outcome] = field(default_factory=dict)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_outcomes(lines: Iterable[bytes]) -> Outcomes:
    """Parse an outcomes file (JSONL); a bad line is recorded with its number, never raised.

    >>> outcomes = read_outcomes([
    ...     b'{"customer_id": "c-1", "churned": true, "at": "2026-09-01T00:00:00Z"}',
    ...     b'{"customer_id": "c-2", "churned": "no"}',
    ...     b'{"customer_id": "c-3", "churned": false}'])
    >>> sorted(outcomes.by_customer), outcomes.by_customer["c-1"].at_ms
    (['c-1', 'c-3'], 1788220800000)
    >>> outcomes.errors
    [(2, "'churned' must be true or false, got 'no'")]
    """
    outcomes = Outcomes()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            outcomes.errors.append((number, f"not JSON ({exc})"))
            continue
        if not isinstance(obj, dict):
            outcomes.errors.append((number, "not a JSON object"))
            continue
        customer, churned, at = obj.get("customer_id"), obj.get("churned"), obj.get("at")
        if not isinstance(customer, str) or not customer:
            outcomes.errors.append((number, "'customer_id' must be a non-empty string"))
            continue
        if not isinstance(churned, bool):
            outcomes.errors.append(
                (number, f"'churned' must be true or false, got {churned!r:.40}"))
            continue
        at_ms = None
        if at is not None:
            try:
                at_ms = parse_rfc3339_ms(at) if isinstance(at, str) else None
            except ValueError as exc:
                outcomes.errors.append((number, f"'at' {at!r:.40}: {exc}"))
                continue
            if at_ms is None:
                outcomes.errors.append((number, f"'at' must be an RFC 3339 time, got {at!r:.40}"))
                continue
        outcomes.by_customer[customer] = Outcome(churned, at_ms)
    return outcomes


def auc(at_risk: Sequence[float], safe: Sequence[float]) -> float | None:
    """The chance that a random ``at_risk`` value is below a random ``safe`` one (ties count
    half): the ROC AUC of ranking by the value, lowest first. None when a side is empty.

    >>> auc([10, 20], [30, 40]), auc([30, 40], [10, 20]), auc([1, 2], [1, 2])
    (1.0, 0.0, 0.5)
    """
    if not at_risk or not safe:
        return None
    ranked = sorted([(v, 0) for v in at_risk] + [(v, 1) for v in safe])
    # Mann-Whitney: sum of the at-risk values' ranks among all, ties given their mean rank.
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2
        rank_sum += mean_rank * sum(1 for _, side in ranked[i:j] if side == 0)
        i = j
    n_risk, n_safe = len(at_risk), len(safe)
    below = rank_sum - n_risk * (n_risk + 1) / 2  # pairs where the at-risk value is higher
    return round(1 - below / (n_risk * n_safe), 4)


def auc_margin(value: float | None, positives: int, negatives: int) -> float | None:
    """Half-width of the AUC's 95% interval (Hanley and McNeil's standard error x 1.96), so a
    reader can tell a difference from noise.

    >>> auc_margin(0.758, 16_512, 7_058)  # CDNOW: 0.758 and 0.759 are one figure
    0.006
    >>> auc_margin(0.9, 60, 340)
    0.053
    """
    if value is None or positives < 1 or negatives < 1:
        return None
    q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
    variance = (value * (1 - value) + (positives - 1) * (q1 - value * value)
                + (negatives - 1) * (q2 - value * value)) / (positives * negatives)
    return round(1.96 * math.sqrt(max(0.0, variance)), 3)


@dataclass(frozen=True)
class History:
    """One customer's events before the cut, as the baselines see them."""

    first_ms: int
    last_activity_ms: int | None
    activities: int


@dataclass
class Split:
    """An event file cut in two: the lines to score, and the activity after the cut."""

    before: list[tuple[int, bytes]] = field(default_factory=list)
    histories: dict[str, History] = field(default_factory=dict)
    active_after: set[str] = field(default_factory=set)
    invalid: int = 0
    churned_before_cut: int = 0


def split_events(lines: Iterable[bytes], cut_ms: int, horizon_ms: int,
                 limits: Limits | None = None) -> Split:
    """Validate every line; keep those before the cut (to score, in event-time order) and
    note who was active (a purchase or an interaction) within the horizon after it."""
    split = Split()
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    counts: dict[str, int] = {}
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            obj = parse_payload(line, limits or Limits())
            kind = FILE_TOPICS.get(str(obj.pop("topic", "")))
            if kind is None:
                raise InvalidEvent("unknown_topic", "no input topic")
            event = validate_event(kind, obj, reference_ms=None, limits=limits or Limits())
        except InvalidEvent:
            split.invalid += 1
            continue
        customer, ts = event.customer_id, event.ts
        activity = isinstance(event, InteractionEvent) or (
            isinstance(event, PurchaseEvent) and event.type == "purchase")
        if ts < cut_ms:
            split.before.append((ts, line))
            first[customer] = min(first.get(customer, ts), ts)
            if activity:
                last[customer] = max(last.get(customer, ts), ts)
                counts[customer] = counts.get(customer, 0) + 1
        elif ts < cut_ms + horizon_ms and activity:
            split.active_after.add(customer)
    split.before.sort(key=lambda pair: pair[0])  # stable: ties keep file order
    split.histories = {c: History(first[c], last.get(c), counts.get(c, 0)) for c in first}
    return split


@dataclass
class Report:
    """One config's backtest; :meth:`as_dict` is the ``--json`` form."""

    config: str
    customers: int
    positives: int
    auc: float | None
    baselines: dict[str, float | None]
    # Half-widths of the 95% intervals of ``auc`` and of each baseline's AUC.
    margins: dict[str, float | None]
    alert: dict[str, float | int | None]
    bands: dict[str, dict[str, float | int | None]]
    bands_monotone: bool
    lead_time_days_median: float | None
    lead_time_customers: int
    alerts_per_100_customers_per_month: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def baseline_aucs(histories: Mapping[str, History], outcomes: Mapping[str, Outcome],
                  cut_ms: int) -> dict[str, float | None]:
    """The AUC of the recency and frequency baselines (higher value: healthier)."""
    def health(name: str, h: History) -> float:
        if name == "recency":
            since = cut_ms - (h.last_activity_ms if h.last_activity_ms is not None else h.first_ms)
            return -since / DAY_MS
        return float(h.activities)

    result: dict[str, float | None] = {}
    for name in ("recency", "frequency"):
        churned = [health(name, histories[c]) for c, o in outcomes.items() if o.churned]
        stayed = [health(name, histories[c]) for c, o in outcomes.items() if not o.churned]
        result[name] = auc(churned, stayed)
    return result


def evaluate_config(name: str, scored: OfflineResult, outcomes: Mapping[str, Outcome],
                    histories: Mapping[str, History], baselines: dict[str, float | None],
                    cut_ms: int, min_evidence: int = 0) -> Report:
    """Compare one config's scores at the cut with the outcomes; ``min_evidence`` is the
    config's ``alerts.min_evidence`` (who could be paged at all)."""
    customers = [c for c in outcomes if c in scored.scores]
    churned = {c for c in customers if outcomes[c].churned}
    score = {c: float(scored.scores[c]["score"]) for c in customers}
    base_rate = len(churned) / len(customers) if customers else 0.0

    flagged = {c for c in customers if scored.states[c].below}
    hits = len(flagged & churned)
    precision = hits / len(flagged) if flagged else None
    # The lift against the customers the alert could page at all: customers held for thin
    # evidence never page, so when they are the likeliest to leave the plain lift is below 1.
    eligible = [c for c in customers if scored.states[c].evidence >= min_evidence]
    eligible_rate = (sum(1 for c in eligible if c in churned) / len(eligible)
                     if eligible else 0.0)
    alert = {
        "flagged": len(flagged),
        "precision": None if precision is None else round(precision, 3),
        "recall": round(hits / len(churned), 3) if churned else None,
        "lift": round(precision / base_rate, 2) if precision is not None and base_rate else None,
        "eligible": len(eligible),
        "lift_among_eligible": (round(precision / eligible_rate, 2)
                                if precision is not None and eligible_rate else None),
    }

    bands: dict[str, dict[str, float | int | None]] = {}
    for band in BAND_NAMES:
        members = [c for c in customers if scored.scores[c]["band"] == band]
        lost = sum(1 for c in members if c in churned)
        bands[band] = {"customers": len(members), "churned": lost,
                       "churn_rate": round(lost / len(members), 3) if members else None}
    # Best band first: each band's churn rate must be at most the next (worse) band's. Bands
    # of fewer than MIN_BAND customers are too small to say either way.
    rates = [float(rate) for b in BAND_NAMES if (rate := bands[b]["churn_rate"]) is not None
             and int(bands[b]["customers"] or 0) >= MIN_BAND]
    monotone = all(a <= b for a, b in itertools.pairwise(rates))

    leads = lead_times_days(scored.alerts, {c: outcomes[c] for c in churned})
    months = sum(max(0, cut_ms - histories[c].first_ms) for c in customers) / MONTH_MS
    pages = sum(1 for a in scored.alerts if a["type"] in PAGING and a["customer_id"] in score)
    value = auc([score[c] for c in churned], [score[c] for c in customers if c not in churned])
    stayed = len(customers) - len(churned)
    margins = {key: auc_margin(v, len(churned), stayed)
               for key, v in (("score", value), *baselines.items())}
    return Report(
        config=name,
        customers=len(customers),
        positives=len(churned),
        auc=value,
        baselines=baselines,
        margins=margins,
        alert=alert,
        bands=bands,
        bands_monotone=monotone,
        lead_time_days_median=round(median(leads), 1) if leads else None,
        lead_time_customers=len(leads),
        alerts_per_100_customers_per_month=round(100 * pages / months, 2) if months else None,
    )


def lead_times_days(alerts: Sequence[Mapping[str, Any]],
                    churners: Mapping[str, Outcome]) -> list[float]:
    """Days from the ``below_threshold`` alert still open at each churn to that churn.

    >>> alerts = [{"customer_id": "c-1", "type": "below_threshold",
    ...            "as_of": "2026-08-01T00:00:00Z"}]
    >>> lead_times_days(alerts, {"c-1": Outcome(True, parse_rfc3339_ms("2026-08-31T00:00:00Z"))})
    [30.0]
    """
    open_since: dict[str, int | None] = {}
    leads: list[float] = []
    events = sorted((parse_rfc3339_ms(a["as_of"]), a["customer_id"], a["type"]) for a in alerts
                    if a["customer_id"] in churners)
    by_customer: dict[str, list[tuple[int, str]]] = {}
    for at, customer, kind in events:
        by_customer.setdefault(customer, []).append((at, kind))
    for customer, outcome in churners.items():
        if outcome.at_ms is None:
            continue
        open_since[customer] = None
        for at, kind in by_customer.get(customer, []):
            if at > outcome.at_ms:
                break
            if kind == "below_threshold":
                open_since[customer] = at
            elif kind == "recovered":
                open_since[customer] = None
        since = open_since[customer]
        if since is not None:
            leads.append(round((outcome.at_ms - since) / DAY_MS, 1))
    return leads


def derived_outcomes(split: Split) -> dict[str, Outcome]:
    """Without an outcomes file: churned = no purchase and no interaction in the horizon."""
    return {c: Outcome(c not in split.active_after) for c in split.histories}


def run_backtest(
    lines: Iterable[bytes], *, cut_ms: int, horizon_days: float,
    configs: Sequence[tuple[str, ScoringConfig]], outcomes: Mapping[str, Outcome] | None = None,
    partitions: int = 4, allowed_lateness_ms: int = 60_000, limits: Limits | None = None,
) -> tuple[list[Report], Split]:
    """Score the events before ``cut_ms`` with each config and compare with the outcomes
    (given, or derived from the ``horizon_days`` after the cut)."""
    horizon_ms = int(horizon_days * DAY_MS)
    split = split_events(lines, cut_ms, horizon_ms, limits)
    known = dict(outcomes) if outcomes is not None else derived_outcomes(split)
    known = {c: o for c, o in known.items() if c in split.histories}
    # A churn dated before the cut is no forecast (left out); one after the horizon is not a
    # churn within it.
    split.churned_before_cut = sum(
        1 for o in known.values() if o.churned and o.at_ms is not None and o.at_ms < cut_ms)
    known = {
        c: Outcome(False) if o.churned and o.at_ms is not None and o.at_ms > cut_ms + horizon_ms
        else o
        for c, o in known.items()
        if not (o.churned and o.at_ms is not None and o.at_ms < cut_ms)
    }
    baselines = baseline_aucs(split.histories, known, cut_ms)
    reports = []
    for name, cfg in configs:
        scored = score_lines((line for _, line in split.before), cfg, reference_ms=None,
                             limits=limits, partitions=partitions,
                             allowed_lateness_ms=allowed_lateness_ms, as_of_ms=cut_ms)
        reports.append(evaluate_config(name, scored, known, split.histories, baselines, cut_ms,
                                       cfg.alerts.min_evidence))
    return reports, split


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if not math.isnan(value) else "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _with_margin(value: float | None, margin: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.3f}" + (f" ±{margin:.3f}" if margin is not None else "")


def report_lines(reports: Sequence[Report], cut_ms: int, horizon_days: float) -> list[str]:
    """The reports side by side, for a person."""
    first = reports[0]
    rows: list[tuple[str, list[Any]]] = [
        ("customers scored at the cut", [r.customers for r in reports]),
        ("of whom churned", [r.positives for r in reports]),
        ("AUC of the score (0.5 = coin)", [_with_margin(r.auc, r.margins["score"])
                                           for r in reports]),
        ("AUC of recency alone", [_with_margin(r.baselines["recency"], r.margins["recency"])
                                  for r in reports]),
        ("AUC of frequency alone", [_with_margin(r.baselines["frequency"],
                                                 r.margins["frequency"]) for r in reports]),
        ("in an open alert at the cut", [r.alert["flagged"] for r in reports]),
        ("  of whom churned (precision)", [r.alert["precision"] for r in reports]),
        ("  share of churners caught (recall)", [r.alert["recall"] for r in reports]),
        ("  lift over the base rate", [r.alert["lift"] for r in reports]),
        ("  lift among those it could page", [r.alert["lift_among_eligible"] for r in reports]),
    ]
    for band in BAND_NAMES:
        rows.append((f"churn rate, band {band}", [
            None if r.bands[band]["churn_rate"] is None else
            f"{r.bands[band]['churn_rate']:.3f} of {r.bands[band]['customers']:,}"
            for r in reports]))
    rows += [
        ("bands ordered by churn (10+ customers)", [r.bands_monotone for r in reports]),
        ("median alert lead time, days", [r.lead_time_days_median for r in reports]),
        ("paging alerts /100 customers/month", [r.alerts_per_100_customers_per_month
                                               for r in reports]),
    ]
    width = max(len(label) for label, _ in rows)
    columns = [r.config for r in reports]
    col = max(14, *(len(c) for c in columns))
    lines = [f"Backtest at {format_ms(cut_ms)}, horizon {horizon_days:g} days "
             f"(base churn rate {first.positives / first.customers:.1%}); ± is the 95% interval"
             if first.customers
             else f"Backtest at {format_ms(cut_ms)}: no customer has events before the cut",
             "", " " * width + "  " + "  ".join(f"{c:>{col}}" for c in columns)]
    for label, values in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{_cell(v):>{col}}" for v in values))
    return lines
