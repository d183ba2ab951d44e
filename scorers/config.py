"""The scoring model's configuration: one TOML file with documented defaults.

``default.toml`` beside this module is the reference: a user's file is laid over it, so it may
name only the keys it changes. Anything else (an unknown key, a wrong type, a value out of its
range, weights that sum to zero) raises :class:`ConfigError` naming the dotted key and the reason.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

COMPONENTS: tuple[str, ...] = (
    "purchase",
    "depth",
    "support",
    "engagement",
    "satisfaction",
    "revenue",
)
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
CHANNELS: tuple[str, ...] = (
    "meeting",
    "call",
    "email",
    "chat",
    "login",
    "feature_use",
    "webinar",
    "survey",
)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


class ConfigError(ValueError):
    """The scoring configuration is invalid; ``key`` is the dotted path of the culprit.

    Examples:

    >>> try:
    ...     config_from_mapping({"alerts": {"treshold": 55.0}}, source="relscore.toml")
    ... except ConfigError as exc:
    ...     print(exc.key, "->", exc.reason)
    alerts.treshold -> unknown key (check its spelling in default.toml)
    """

    def __init__(self, key: str, reason: str, source: str = "config") -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}")


@dataclass(frozen=True, slots=True)
class PurchaseConfig:
    """The ``[purchase]`` table, durations converted to milliseconds.

    Examples:

    >>> purchase = DEFAULT_CONFIG.purchase
    >>> purchase.half_life_ms / DAY_MS, purchase.recency_zero_ms / DAY_MS
    (30.0, 120.0)
    >>> purchase.expected_per_30_days, purchase.return_share_zero
    (2.0, 0.5)
    """
    half_life_ms: float
    expected_per_30_days: float
    recency_grace_ms: float
    recency_zero_ms: float
    return_share_zero: float
    frequency_share: float
    recency_share: float
    returns_share: float


@dataclass(frozen=True, slots=True)
class DepthConfig:
    """The ``[depth]`` table, the window converted to milliseconds.

    Examples:

    >>> DEFAULT_CONFIG.depth.window_ms / DAY_MS, DEFAULT_CONFIG.depth.target_products
    (90.0, 4)
    """
    window_ms: float
    target_products: int
    max_products: int


@dataclass(frozen=True, slots=True)
class SupportConfig:
    """The ``[support]`` table; per-priority values are tuples indexed like :data:`PRIORITIES`.

    Examples:

    >>> support = DEFAULT_CONFIG.support
    >>> {name: sla / HOUR_MS for name, sla in zip(PRIORITIES, support.sla_ms, strict=True)}
    {'low': 120.0, 'normal': 48.0, 'high': 24.0, 'urgent': 8.0}
    >>> support.priority_weight[PRIORITIES.index("urgent")]
    4.0
    """
    half_life_ms: float
    softness: float
    max_overdue_factor: float
    escalation_load: float
    reopen_load: float
    late_resolution_load: float
    csat_share: float
    max_open_tickets: int
    priority_weight: tuple[float, ...]  # indexed like PRIORITIES
    overdue_cap_load: float  # 0: open tickets past SLA do not cap the score
    sla_ms: tuple[float, ...]  # indexed like PRIORITIES


@dataclass(frozen=True, slots=True)
class EngagementConfig:
    """The ``[engagement]`` table, with the weight of one touch per channel.

    Examples:

    >>> engagement = DEFAULT_CONFIG.engagement
    >>> engagement.channel_weight["meeting"], engagement.channel_weight["login"]
    (3.0, 0.5)
    """
    half_life_ms: float
    target_per_30_days: float
    recency_grace_ms: float
    recency_zero_ms: float
    volume_share: float
    recency_share: float
    sentiment_share: float
    channel_weight: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class SatisfactionConfig:
    """The ``[satisfaction]`` table: how NPS and CSAT answers are blended.

    Examples:

    >>> DEFAULT_CONFIG.satisfaction.nps_share, DEFAULT_CONFIG.satisfaction.csat_share
    (0.6, 0.4)
    """
    half_life_ms: float
    nps_share: float
    csat_share: float


@dataclass(frozen=True, slots=True)
class RevenueConfig:
    """The ``[revenue]`` table: short- against long-window spend, durations in milliseconds.

    Examples:

    >>> revenue = DEFAULT_CONFIG.revenue
    >>> revenue.short_half_life_ms / DAY_MS, revenue.long_half_life_ms / DAY_MS
    (30.0, 180.0)
    """
    short_half_life_ms: float
    long_half_life_ms: float
    full_scale_growth: float
    min_history_ms: float


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """The ``[alerts]`` table (see :func:`scorers.alerts.check_alerts`).

    Examples:

    >>> alerts = DEFAULT_CONFIG.alerts
    >>> alerts.threshold, alerts.hysteresis, alerts.critical_below, alerts.sharp_drop_points
    (60.0, 5.0, 40.0, 15.0)
    """
    threshold: float
    hysteresis: float
    critical_below: float
    sharp_drop_points: float
    sharp_drop_window_ms: float
    max_drivers: int
    min_evidence: int = 0


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """The whole model configuration, validated, in the units the model computes with (ms).

    Build one with :func:`load_config` (a TOML file) or :func:`config_from_mapping` rather than
    field by field: they lay your keys over ``default.toml`` and validate the result.

    Examples:

    >>> cfg = config_from_mapping({"model": {"prior_score": 50.0}, "alerts": {"threshold": 55}})
    >>> cfg.prior_score, cfg.alerts.threshold, cfg.scorer_version
    (50.0, 55.0, '4')
    >>> cfg.purchase.half_life_ms == 30 * DAY_MS  # days in the file, milliseconds here
    True
    """

    scorer_version: str
    prior_score: float
    prior_strength: float
    dedup_memory: int
    weights: Mapping[str, float]
    segment_weights: Mapping[str, Mapping[str, float]]
    purchase: PurchaseConfig
    depth: DepthConfig
    support: SupportConfig
    engagement: EngagementConfig
    satisfaction: SatisfactionConfig
    revenue: RevenueConfig
    alerts: AlertConfig
    fresh_half_lives: float

    def weights_for(self, segment: str | None) -> Mapping[str, float]:
        """The component weights for ``segment`` (the defaults when it has none of its own).

        Examples:

        >>> DEFAULT_CONFIG.weights_for(None)["support"]
        0.2
        >>> DEFAULT_CONFIG.weights_for("enterprise")["support"]
        0.25
        >>> DEFAULT_CONFIG.weights_for("no-such-segment") == DEFAULT_CONFIG.weights
        True
        """
        if segment is None:
            return self.weights
        return self.segment_weights.get(segment, self.weights)

    fresh_within_ms: Mapping[str, float]  # per component: data this recent counts as fresh

    def half_life_ms(self, component: str) -> float:
        """The half-life that decides whether ``component``'s latest data is still fresh.

        Examples:

        >>> DEFAULT_CONFIG.half_life_ms("support") / DAY_MS
        7.0
        >>> DEFAULT_CONFIG.half_life_ms("depth") / DAY_MS  # depth has a window, not a half-life
        90.0
        """
        return self.fresh_within_ms[component] / self.fresh_half_lives


def _default_tree() -> dict[str, Any]:
    text = resources.files("scorers").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _merge(base: dict[str, Any], override: Mapping[str, Any], path: str, source: str) -> None:
    """Lay ``override`` over ``base`` in place, refusing keys and types the defaults lack."""
    for key, value in override.items():
        dotted = f"{path}.{key}" if path else key
        if path == "segments":
            if not isinstance(value, dict):
                raise ConfigError(dotted, "must be a table like [segments.NAME.weights]", source)
            base.setdefault(key, {"weights": {}})
            _merge(base[key], value, dotted, source)
            continue
        if path.startswith("segments.") and path.count(".") == 1:
            if key != "weights" or not isinstance(value, dict):
                raise ConfigError(dotted, "a segment may only set a [weights] table", source)
            for comp, weight in value.items():
                if comp not in COMPONENTS:
                    raise ConfigError(
                        f"{dotted}.{comp}",
                        f"unknown component; use one of {', '.join(COMPONENTS)}",
                        source,
                    )
                base["weights"][comp] = _number(weight, f"{dotted}.{comp}", source)
            continue
        if key not in base:
            raise ConfigError(dotted, "unknown key (check its spelling in default.toml)", source)
        current = base[key]
        if isinstance(current, dict):
            if not isinstance(value, dict):
                raise ConfigError(dotted, "must be a table", source)
            _merge(current, value, dotted, source)
        elif isinstance(current, bool) or isinstance(value, bool):
            raise ConfigError(dotted, "booleans are not accepted here", source)
        elif isinstance(current, str):
            if not isinstance(value, str):
                raise ConfigError(dotted, f"must be a string, got {type(value).__name__}", source)
            base[key] = value
        elif isinstance(current, int) and not isinstance(current, bool) and key in _INTEGER_KEYS:
            if not isinstance(value, int):
                raise ConfigError(dotted, f"must be an integer, got {value!r}", source)
            base[key] = value
        else:
            base[key] = _number(value, dotted, source)


_INTEGER_KEYS = frozenset({"dedup_memory", "target_products", "max_products", "max_open_tickets",
                           "max_drivers", "min_evidence"})


def _number(value: Any, dotted: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(dotted, f"must be a number, got {value!r}", source)
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(dotted, "must be finite", source)
    return number


class _Reader:
    """Reads validated values out of the merged tree, naming the key on every refusal."""

    def __init__(self, tree: Mapping[str, Any], source: str) -> None:
        self._tree = tree
        self._source = source

    def get(self, dotted: str) -> Any:
        node: Any = self._tree
        for part in dotted.split("."):
            node = node[part]
        return node

    def positive(self, dotted: str) -> float:
        value = float(self.get(dotted))
        if value <= 0:
            raise ConfigError(dotted, f"must be > 0, got {value}", self._source)
        return value

    def non_negative(self, dotted: str) -> float:
        value = float(self.get(dotted))
        if value < 0:
            raise ConfigError(dotted, f"must be >= 0, got {value}", self._source)
        return value

    def within(self, dotted: str, low: float, high: float) -> float:
        value = float(self.get(dotted))
        if not low <= value <= high:
            raise ConfigError(dotted, f"must be in {low}..{high}, got {value}", self._source)
        return value

    def count(self, dotted: str, minimum: int = 1) -> int:
        value = int(self.get(dotted))
        if value < minimum:
            raise ConfigError(dotted, f"must be an integer >= {minimum}, got {value}", self._source)
        return value

    def shares(self, table: str, names: tuple[str, ...]) -> tuple[float, ...]:
        values = tuple(self.within(f"{table}.{name}", 0.0, 1.0) for name in names)
        if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
            listed = " + ".join(f"{table}.{name}" for name in names)
            raise ConfigError(table, f"{listed} must add to 1, not {sum(values):g}", self._source)
        return values

    def weights(self, table: str) -> dict[str, float]:
        weights = {name: self.non_negative(f"{table}.{name}") for name in COMPONENTS}
        if sum(weights.values()) <= 0:
            raise ConfigError(table, "at least one component weight must be > 0", self._source)
        return weights

    def ordered(self, low_key: str, high_key: str) -> None:
        if float(self.get(low_key)) >= float(self.get(high_key)):
            raise ConfigError(high_key, f"must be greater than {low_key}", self._source)


def _build(tree: dict[str, Any], source: str) -> ScoringConfig:
    r = _Reader(tree, source)
    version = r.get("model.scorer_version")
    if not version:
        raise ConfigError("model.scorer_version", "must not be empty", source)
    r.ordered("purchase.recency_grace_days", "purchase.recency_zero_days")
    r.ordered("engagement.recency_grace_days", "engagement.recency_zero_days")
    r.ordered("revenue.short_half_life_days", "revenue.long_half_life_days")
    p_shares = r.shares("purchase", ("frequency_share", "recency_share", "returns_share"))
    e_shares = r.shares("engagement", ("volume_share", "recency_share", "sentiment_share"))
    s_shares = r.shares("satisfaction", ("nps_share", "csat_share"))
    channel_weight = {c: r.non_negative(f"engagement.channel_weight.{c}") for c in CHANNELS}
    threshold = r.within("alerts.threshold", 0.0, 100.0)
    hysteresis = r.within("alerts.hysteresis", 0.0, 100.0 - threshold)
    segments = {
        name: r.weights(f"segments.{name}.weights") for name in tree.get("segments", {})
    }
    return ScoringConfig(
        scorer_version=str(version),
        prior_score=r.within("model.prior_score", 0.0, 100.0),
        prior_strength=r.non_negative("model.prior_strength"),
        dedup_memory=r.count("model.dedup_memory"),
        weights=r.weights("weights"),
        segment_weights=segments,
        purchase=PurchaseConfig(
            half_life_ms=r.positive("purchase.half_life_days") * DAY_MS,
            expected_per_30_days=r.positive("purchase.expected_purchases_per_30_days"),
            recency_grace_ms=r.non_negative("purchase.recency_grace_days") * DAY_MS,
            recency_zero_ms=r.positive("purchase.recency_zero_days") * DAY_MS,
            return_share_zero=r.within("purchase.return_share_zero", 0.01, 1.0),
            frequency_share=p_shares[0],
            recency_share=p_shares[1],
            returns_share=p_shares[2],
        ),
        depth=DepthConfig(
            window_ms=r.positive("depth.window_days") * DAY_MS,
            target_products=r.count("depth.target_products"),
            max_products=r.count("depth.max_products"),
        ),
        support=SupportConfig(
            half_life_ms=r.positive("support.half_life_days") * DAY_MS,
            softness=r.positive("support.softness"),
            max_overdue_factor=r.non_negative("support.max_overdue_factor"),
            escalation_load=r.non_negative("support.escalation_load"),
            reopen_load=r.non_negative("support.reopen_load"),
            late_resolution_load=r.non_negative("support.late_resolution_load"),
            csat_share=r.within("support.csat_share", 0.0, 1.0),
            max_open_tickets=r.count("support.max_open_tickets"),
            overdue_cap_load=r.non_negative("support.overdue_cap_load"),
            priority_weight=tuple(
                r.non_negative(f"support.priority_weight.{p}") for p in PRIORITIES
            ),
            sla_ms=tuple(r.positive(f"support.sla_hours.{p}") * HOUR_MS for p in PRIORITIES),
        ),
        engagement=EngagementConfig(
            half_life_ms=r.positive("engagement.half_life_days") * DAY_MS,
            target_per_30_days=r.positive("engagement.target_weighted_touches_per_30_days"),
            recency_grace_ms=r.non_negative("engagement.recency_grace_days") * DAY_MS,
            recency_zero_ms=r.positive("engagement.recency_zero_days") * DAY_MS,
            volume_share=e_shares[0],
            recency_share=e_shares[1],
            sentiment_share=e_shares[2],
            channel_weight=channel_weight,
        ),
        satisfaction=SatisfactionConfig(
            half_life_ms=r.positive("satisfaction.half_life_days") * DAY_MS,
            nps_share=s_shares[0],
            csat_share=s_shares[1],
        ),
        revenue=RevenueConfig(
            short_half_life_ms=r.positive("revenue.short_half_life_days") * DAY_MS,
            long_half_life_ms=r.positive("revenue.long_half_life_days") * DAY_MS,
            full_scale_growth=r.positive("revenue.full_scale_growth"),
            min_history_ms=r.non_negative("revenue.min_history_days") * DAY_MS,
        ),
        alerts=AlertConfig(
            threshold=threshold,
            hysteresis=hysteresis,
            critical_below=r.within("alerts.critical_below", 0.0, threshold),
            sharp_drop_points=r.within("alerts.sharp_drop_points", 0.1, 100.0),
            sharp_drop_window_ms=r.positive("alerts.sharp_drop_window_days") * DAY_MS,
            max_drivers=r.count("alerts.max_drivers"),
            min_evidence=r.count("alerts.min_evidence", minimum=0),
        ),
        fresh_half_lives=r.positive("confidence.fresh_half_lives"),
        fresh_within_ms={
            name: r.positive("confidence.fresh_half_lives") * DAY_MS * days
            for name, days in (
                ("purchase", r.positive("purchase.half_life_days")),
                ("depth", r.positive("depth.window_days")),
                ("support", r.positive("support.half_life_days")),
                ("engagement", r.positive("engagement.half_life_days")),
                ("satisfaction", r.positive("satisfaction.half_life_days")),
                ("revenue", r.positive("revenue.short_half_life_days")),
            )
        },
    )


def config_from_mapping(overrides: Mapping[str, Any], source: str = "config") -> ScoringConfig:
    """Validate ``overrides`` laid over the defaults (``{}`` gives the defaults).

    Examples:

    >>> config_from_mapping({}) == DEFAULT_CONFIG
    True
    >>> cfg = config_from_mapping({"segments": {"startup": {"weights": {"engagement": 0.4}}}})
    >>> cfg.weights_for("startup")["engagement"], cfg.weights_for("startup")["purchase"]
    (0.4, 0.25)
    >>> config_from_mapping({"purchase": {"half_life_days": -1}})
    Traceback (most recent call last):
      ...
    scorers.config.ConfigError: config: purchase.half_life_days: must be > 0, got -1.0
    """
    tree = _default_tree()
    _merge(tree, overrides, "", source)
    # A segment names only the weights it changes; the rest come from [weights].
    for segment in tree.get("segments", {}).values():
        segment["weights"] = {**tree["weights"], **segment.get("weights", {})}
    return _build(tree, source)


def load_config(path: str | Path | None = None) -> ScoringConfig:
    """Load the model config from ``path`` (TOML), or the defaults when ``path`` is None.

    Examples:

    >>> load_config().alerts.threshold
    60.0
    >>> import pathlib
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "relscore.toml")
    ...     _ = path.write_text("alerts = { threshold = 55.0 }", encoding="utf-8")
    ...     cfg = load_config(path)
    >>> cfg.alerts.threshold, cfg.alerts.critical_below  # the rest keeps its default
    (55.0, 40.0)
    """
    if path is None:
        return config_from_mapping({}, "default.toml")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {file}: {exc.strerror}", str(file)) from exc
    try:
        overrides = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", f"not valid TOML: {exc}", str(file)) from exc
    return config_from_mapping(overrides, str(file))


DEFAULT_CONFIG: ScoringConfig = load_config()
