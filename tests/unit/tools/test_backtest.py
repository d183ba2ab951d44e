"""``relscore backtest``: the figures mean what they say, and bad input is counted, not fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorers.config import DAY_MS, DEFAULT_CONFIG
from scorers.timefmt import format_ms
from streams.cli.main import main
from streams.laptop.scenario import EPOCH_MS, healthy_history
from streams.tools.backtest import Outcome, auc, read_outcomes, run_backtest

CUT = EPOCH_MS + 120 * DAY_MS
values = st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30)


@given(values, values)
def test_auc_of_the_reverse_ranking_is_its_complement(a: list[float], b: list[float]) -> None:
    one, other = auc(a, b), auc(b, a)
    assert one is not None and other is not None
    assert one + other == pytest.approx(1.0, abs=1e-3)


scores = st.lists(st.integers(0, 1000), min_size=1, max_size=30)


@given(scores, scores)
def test_auc_ignores_any_increasing_rescaling(a: list[int], b: list[int]) -> None:
    assert auc(a, b) == auc([v * 3 + 7 for v in a], [v * 3 + 7 for v in b])


def test_auc_needs_both_sides() -> None:
    assert auc([], [1.0]) is None and auc([1.0], []) is None


def test_the_auc_interval_narrows_with_more_customers() -> None:
    from streams.tools.backtest import auc_margin

    margins = [auc_margin(0.75, n, 3 * n) for n in (10, 100, 1000, 10000)]
    assert all(m is not None for m in margins)
    assert margins == sorted(margins, reverse=True)  # type: ignore[type-var]
    assert auc_margin(None, 10, 10) is None and auc_margin(0.7, 0, 10) is None


def lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(e) for e in events]


def population() -> list[dict[str, Any]]:
    """Ten customers who stay (active before and after the cut) and ten who lapse (their
    history stops 60 days before it)."""
    events: list[dict[str, Any]] = []
    for i in range(10):
        events += healthy_history(f"stays-{i}", days=200)
        events += healthy_history(f"lapses-{i}", days=60)
    return sorted(events, key=lambda e: e["ts"])


def test_outcomes_are_derived_from_activity_after_the_cut() -> None:
    (report,), split = run_backtest(lines(population()), cut_ms=CUT, horizon_days=60,
                                    configs=[("default", DEFAULT_CONFIG)])
    assert report.customers == 20 and report.positives == 10
    assert split.active_after == {f"stays-{i}" for i in range(10)}
    # Lapsed customers have not been seen for two months: every ranking gets them.
    assert report.baselines["recency"] == 1.0
    assert report.auc is not None and report.auc >= 0.9
    assert report.alert["flagged"] is not None


def test_the_alert_lift_is_also_given_among_the_customers_it_could_page() -> None:
    """One-time buyers who leave are held for thin evidence: the plain lift counts them
    against the alert, the lift among customers with enough evidence to page does not."""
    one_timers = [{"topic": "purchases", "event_id": f"once-{i}", "customer_id": f"once-{i}",
                   "ts": CUT - 100 * DAY_MS, "order_id": f"o-{i}", "amount": 40.0,
                   "product_id": "crm"} for i in range(10)]
    events = sorted(population() + one_timers, key=lambda e: e["ts"])
    (report,), _ = run_backtest(lines(events), cut_ms=CUT, horizon_days=60,
                                configs=[("default", DEFAULT_CONFIG)])
    assert report.customers == 30 and report.positives == 20
    alert = report.alert
    assert alert["flagged"] and alert["precision"] == 1.0  # only lapsed regulars are alerted
    assert alert["eligible"] == 20  # the one-time buyers cannot page
    assert alert["lift"] == pytest.approx(1.0 / (20 / 30), abs=0.01)
    assert alert["lift_among_eligible"] == pytest.approx(1.0 / (10 / 20), abs=0.01)


def test_an_outcomes_file_overrides_the_derived_outcome_and_gives_lead_times() -> None:
    events = population()
    churn_at = CUT + 30 * DAY_MS
    outcomes = {f"lapses-{i}": Outcome(True, churn_at) for i in range(10)}
    outcomes |= {f"stays-{i}": Outcome(False) for i in range(10)}
    (report,), _ = run_backtest(lines(events), cut_ms=CUT, horizon_days=60,
                                configs=[("default", DEFAULT_CONFIG)], outcomes=outcomes)
    assert report.positives == 10
    if report.lead_time_customers:
        assert report.lead_time_days_median is not None and report.lead_time_days_median >= 30


def test_churn_before_the_cut_is_left_out_and_after_the_horizon_is_no_churn() -> None:
    outcomes = {"lapses-0": Outcome(True, CUT - DAY_MS),
                "lapses-1": Outcome(True, CUT + 90 * DAY_MS)}
    (report,), split = run_backtest(lines(population()), cut_ms=CUT, horizon_days=60,
                                    configs=[("default", DEFAULT_CONFIG)], outcomes=outcomes)
    assert split.churned_before_cut == 1
    assert report.customers == 1 and report.positives == 0


def test_a_bad_outcome_line_is_reported_with_its_number_and_the_rest_are_read() -> None:
    read = read_outcomes([
        b'{"customer_id": "c-1", "churned": true}',
        b"not json",
        b'{"customer_id": "", "churned": false}',
        b'{"customer_id": "c-4", "churned": true, "at": "soon"}',
        b"",
        b'{"customer_id": "c-6", "churned": false}',
    ])
    assert sorted(read.by_customer) == ["c-1", "c-6"]
    assert [number for number, _ in read.errors] == [2, 3, 4]


def test_the_command_compares_configs_side_by_side_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines(population())) + b"\n")
    outcomes = tmp_path / "outcomes.jsonl"
    outcomes.write_text('{"customer_id": "lapses-0", "churned": true}\n{"oops"\n')
    strict = tmp_path / "strict.toml"
    strict.write_text("[alerts]\nthreshold = 75.0\n")
    report = tmp_path / "report.json"
    code = main(["backtest", str(events), "--cut", format_ms(CUT), "--horizon-days", "60",
                 "--config", str(strict), "--config", str(strict.with_name("missing.toml")),
                 "--json", str(report)])
    assert code == 2  # a config that cannot be read is refused before any scoring
    assert "missing.toml" in capsys.readouterr().err

    code = main(["backtest", str(events), "--cut", format_ms(CUT), "--horizon-days", "60",
                 "--outcomes", str(outcomes), "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{outcomes}:2:" in out and "1 outcome lines skipped" in out
    assert "AUC of the score" in out and "AUC of recency alone" in out
    body = orjson.loads(report.read_bytes())
    assert body["outcomes"] == "file" and len(body["reports"]) == 1
    assert set(body["reports"][0]["margins"]) == {"score", "recency", "frequency"}

    default = tmp_path / "default.toml"
    default.write_text("")
    main(["backtest", str(events), "--cut", format_ms(CUT), "--horizon-days", "60",
          "--config", str(default), "--config", str(strict), "--json", str(report)])
    header = next(line for line in capsys.readouterr().out.splitlines()
                  if "default" in line and "strict" in line)
    assert header.index("default") < header.index("strict")
    assert [r["config"] for r in orjson.loads(report.read_bytes())["reports"]] == [
        "default", "strict"]
