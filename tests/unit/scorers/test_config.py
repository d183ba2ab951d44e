"""The model configuration: defaults, overrides, and refusals that name the dotted key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from scorers.config import (
    COMPONENTS,
    DAY_MS,
    DEFAULT_CONFIG,
    HOUR_MS,
    ConfigError,
    config_from_mapping,
    load_config,
)


def refusal(overrides: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(overrides)
    return info.value


# --- defaults -------------------------------------------------------------------------------


def test_defaults_match_the_documented_model() -> None:
    cfg = DEFAULT_CONFIG
    assert cfg == load_config() == config_from_mapping({})
    assert cfg.scorer_version == "4"
    assert cfg.alerts.min_evidence == 3
    assert cfg.prior_score == 65.0
    assert cfg.alerts.threshold == 60.0
    assert cfg.alerts.hysteresis == 5.0
    assert cfg.alerts.critical_below == 40.0
    assert cfg.alerts.sharp_drop_points == 15.0
    assert cfg.alerts.sharp_drop_window_ms == 7 * DAY_MS
    assert cfg.purchase.half_life_ms == 30 * DAY_MS
    assert cfg.support.sla_ms == (120 * HOUR_MS, 48 * HOUR_MS, 24 * HOUR_MS, 8 * HOUR_MS)
    assert cfg.support.priority_weight == (0.5, 1.0, 2.0, 4.0)
    assert set(cfg.weights) == set(COMPONENTS)
    assert math.isclose(sum(cfg.weights.values()), 1.0)
    for shares in (
        (cfg.purchase.frequency_share, cfg.purchase.recency_share, cfg.purchase.returns_share),
        (cfg.engagement.volume_share, cfg.engagement.recency_share,
         cfg.engagement.sentiment_share),
        (cfg.satisfaction.nps_share, cfg.satisfaction.csat_share),
    ):
        assert math.isclose(sum(shares), 1.0)


def test_half_life_per_component() -> None:
    cfg = DEFAULT_CONFIG
    assert cfg.half_life_ms("purchase") == 30 * DAY_MS
    assert cfg.half_life_ms("depth") == 90 * DAY_MS
    assert cfg.half_life_ms("support") == 7 * DAY_MS
    assert cfg.half_life_ms("engagement") == 14 * DAY_MS
    assert cfg.half_life_ms("satisfaction") == 14 * DAY_MS
    assert cfg.half_life_ms("revenue") == 30 * DAY_MS


def test_override_changes_only_the_named_key() -> None:
    cfg = config_from_mapping({"purchase": {"half_life_days": 10}, "alerts": {"threshold": 55}})
    assert cfg.purchase.half_life_ms == 10 * DAY_MS
    assert cfg.alerts.threshold == 55.0
    assert cfg.purchase.expected_per_30_days == DEFAULT_CONFIG.purchase.expected_per_30_days
    assert cfg.weights == DEFAULT_CONFIG.weights


def test_integer_given_for_a_float_key_is_accepted() -> None:
    assert config_from_mapping({"model": {"prior_score": 70}}).prior_score == 70.0


def test_load_config_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text('[model]\nscorer_version = "2-custom"\n[support.sla_hours]\nurgent = 4\n')
    cfg = load_config(path)
    assert cfg.scorer_version == "2-custom"
    assert cfg.support.sla_ms[3] == 4 * HOUR_MS
    assert cfg.support.sla_ms[:3] == DEFAULT_CONFIG.support.sla_ms[:3]


# --- segment weights --------------------------------------------------------------------------


def test_segment_names_only_some_weights_the_rest_fall_back_to_defaults() -> None:
    cfg = DEFAULT_CONFIG
    smb = cfg.weights_for("smb")
    assert smb["purchase"] == 0.30
    assert smb["engagement"] == 0.15
    for name in ("depth", "support", "satisfaction", "revenue"):
        assert smb[name] == cfg.weights[name]
    enterprise = cfg.weights_for("enterprise")
    assert enterprise["support"] == 0.25
    assert enterprise["depth"] == cfg.weights["depth"]


def test_unknown_or_missing_segment_uses_default_weights() -> None:
    cfg = DEFAULT_CONFIG
    assert cfg.weights_for(None) == cfg.weights
    assert cfg.weights_for("no-such-segment") == cfg.weights


def test_segment_fallback_follows_the_users_default_weights() -> None:
    cfg = config_from_mapping({"weights": {"depth": 0.5}})
    assert cfg.weights_for("smb")["depth"] == 0.5
    assert cfg.weights_for("enterprise")["depth"] == 0.5
    assert cfg.weights_for("enterprise")["support"] == 0.25  # the segment's own value stays


def test_new_segment_from_config() -> None:
    cfg = config_from_mapping({"segments": {"gov": {"weights": {"support": 1.0}}}})
    gov = cfg.weights_for("gov")
    assert gov["support"] == 1.0
    assert gov["purchase"] == DEFAULT_CONFIG.weights["purchase"]
    assert cfg.weights_for("smb") == DEFAULT_CONFIG.weights_for("smb")


# --- refusals name the dotted key -------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"purchase": {"half_life_dayz": 3}}, "purchase.half_life_dayz", "unknown key"),
        ({"no_such_table": {}}, "no_such_table", "unknown key"),
        ({"support": {"priority_weight": {"critical": 5}}}, "support.priority_weight.critical",
         "unknown key"),
        ({"purchase": {"half_life_days": "30"}}, "purchase.half_life_days", "number"),
        ({"purchase": {"half_life_days": True}}, "purchase.half_life_days", "booleans"),
        ({"model": {"scorer_version": 2}}, "model.scorer_version", "string"),
        ({"model": {"dedup_memory": 1.5}}, "model.dedup_memory", "integer"),
        ({"depth": {"target_products": "4"}}, "depth.target_products", "integer"),
        ({"purchase": 3}, "purchase", "table"),
        ({"purchase": {"half_life_days": math.inf}}, "purchase.half_life_days", "finite"),
        ({"purchase": {"half_life_days": math.nan}}, "purchase.half_life_days", "finite"),
        ({"purchase": {"half_life_days": 0}}, "purchase.half_life_days", "> 0"),
        ({"support": {"softness": -1}}, "support.softness", "> 0"),
        ({"support": {"escalation_load": -0.1}}, "support.escalation_load", ">= 0"),
        ({"model": {"prior_score": 101}}, "model.prior_score", "0.0..100.0"),
        ({"model": {"dedup_memory": 0}}, "model.dedup_memory", ">= 1"),
        ({"model": {"scorer_version": ""}}, "model.scorer_version", "empty"),
        ({"alerts": {"hysteresis": 50}}, "alerts.hysteresis", "0.0..40.0"),
        ({"alerts": {"hysteresis": -1}}, "alerts.hysteresis", "0.0..40.0"),
        ({"alerts": {"threshold": 90, "hysteresis": 15}}, "alerts.hysteresis", "0.0..10.0"),
        ({"alerts": {"critical_below": 70}}, "alerts.critical_below", "0.0..60.0"),
        ({"alerts": {"max_drivers": 0}}, "alerts.max_drivers", ">= 1"),
        ({"purchase": {"recency_grace_days": 200}}, "purchase.recency_zero_days",
         "purchase.recency_grace_days"),
        ({"revenue": {"short_half_life_days": 365}}, "revenue.long_half_life_days",
         "revenue.short_half_life_days"),
        ({"engagement": {"channel_weight": {"call": -2}}}, "engagement.channel_weight.call",
         ">= 0"),
        ({"weights": {"purchase": -0.1}}, "weights.purchase", ">= 0"),
        ({"weights": dict.fromkeys(COMPONENTS, 0)}, "weights", "at least one"),
        ({"segments": {"smb": {"weights": {"loyalty": 1}}}}, "segments.smb.weights.loyalty",
         "unknown component"),
        ({"segments": {"smb": {"threshold": 50}}}, "segments.smb.threshold", "weights"),
        ({"segments": {"smb": 1}}, "segments.smb", "table"),
        ({"segments": {"gov": {"weights": {"support": "high"}}}}, "segments.gov.weights.support",
         "number"),
        ({"segments": {"gov": {"weights": dict.fromkeys(COMPONENTS, 0)}}},
         "segments.gov.weights", "at least one"),
    ],
)
def test_refusal_names_the_dotted_key(overrides: dict[str, Any], key: str, words: str) -> None:
    error = refusal(overrides)
    assert error.key == key
    assert key in str(error)
    assert words in str(error)


@pytest.mark.parametrize(
    ("table", "overrides", "listed"),
    [
        ("purchase", {"frequency_share": 0.5},
         "purchase.frequency_share + purchase.recency_share + purchase.returns_share"),
        ("engagement", {"sentiment_share": 0.0},
         "engagement.volume_share + engagement.recency_share + engagement.sentiment_share"),
        ("satisfaction", {"nps_share": 0.1},
         "satisfaction.nps_share + satisfaction.csat_share"),
    ],
)
def test_shares_that_do_not_add_to_one_are_refused(
    table: str, overrides: dict[str, Any], listed: str
) -> None:
    error = refusal({table: overrides})
    assert error.key == table
    assert listed in str(error)
    assert "must add to 1" in str(error)


def test_shares_that_add_to_one_are_accepted() -> None:
    cfg = config_from_mapping(
        {"satisfaction": {"nps_share": 0.3, "csat_share": 0.7}}
    )
    assert (cfg.satisfaction.nps_share, cfg.satisfaction.csat_share) == (0.3, 0.7)


def test_share_out_of_range_names_the_share() -> None:
    error = refusal({"satisfaction": {"nps_share": 1.5, "csat_share": -0.5}})
    assert error.key == "satisfaction.nps_share"


def test_hysteresis_at_the_edge_of_its_range_is_accepted() -> None:
    cfg = config_from_mapping({"alerts": {"threshold": 90, "hysteresis": 10}})
    assert cfg.alerts.hysteresis == 10.0


def test_error_message_carries_the_source() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"purchase": {"nope": 1}}, source="my.toml")
    assert str(info.value).startswith("my.toml: purchase.nope: ")


def test_unreadable_file_is_refused_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.key == "(file)"
    assert str(missing) in str(info.value)
    assert "cannot read" in str(info.value)


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.key == "(file)"


def test_bad_toml_is_refused_with_the_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[purchase]\nhalf_life_days = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "(syntax)"
    message = str(info.value)
    assert str(path) in message
    assert "not valid TOML" in message
    assert "line 2" in message


def test_bad_value_in_a_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text("[alerts]\nhysteresis = 45.0\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "alerts.hysteresis"
    assert str(info.value).startswith(f"{path}: alerts.hysteresis: ")


def test_toml_inf_and_nan_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text("[support]\nsoftness = inf\n")
    with pytest.raises(ConfigError, match=r"support\.softness: must be finite"):
        load_config(path)
    path.write_text("[support]\nsoftness = nan\n")
    with pytest.raises(ConfigError, match=r"support\.softness: must be finite"):
        load_config(path)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
