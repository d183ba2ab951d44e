"""``relscore simulate`` argument checks that need no broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli.laptop import simulation_start_ms
from streams.cli.main import main
from streams.laptop.simulator import SimSpec, simulate


def test_event_time_past_now_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["simulate", "--start", "2099-01-01", "--days", "10"])
    assert code == 2
    err = capsys.readouterr().err
    assert "future_timestamp" in err and "--realtime" in err


@pytest.mark.parametrize("args", [["--customers", "0"], ["--days", "0"], ["--rate", "-1"],
                                  ["--start", "June"]])
def test_bad_arguments_are_refused_with_the_option_named(
    args: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", *args]) == 2
    assert "--" in capsys.readouterr().err


def test_out_writes_the_pure_simulation_as_an_event_file(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    assert main(["simulate", "--customers", "5", "--days", "20", "--seed", "4", "--start",
                 "2026-03-01", "--out", str(out)]) == 0
    spec = SimSpec(customers=5, days=20, seed=4, start_ms=simulation_start_ms("2026-03-01", False))
    assert out.read_bytes().splitlines() == simulate(spec).lines()
