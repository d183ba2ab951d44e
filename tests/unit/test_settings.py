"""Settings from RELSCORE_* variables: refused values name the variable and what to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, SettingsError


def test_defaults_keep_the_projector_in_the_worker_with_a_short_linger() -> None:
    settings = Settings.from_env({})
    assert settings.worker.projector == "worker"
    assert settings.worker.producer_linger_s == 0.005


def test_projector_can_be_turned_off() -> None:
    assert Settings.from_env({"RELSCORE_PROJECTOR": "off"}).worker.projector == "off"


@pytest.mark.parametrize(("env", "words"), [
    ({"RELSCORE_PROJECTOR": "redis"}, ["RELSCORE_PROJECTOR='redis'", "'worker'", "'off'",
                                       "relscore project"]),
    ({"RELSCORE_PRODUCER_LINGER_S": "5"}, ["RELSCORE_PRODUCER_LINGER_S", "between 0 and 1"]),
    ({"RELSCORE_PRODUCER_LINGER_S": "-0.1"}, ["RELSCORE_PRODUCER_LINGER_S"]),
    ({"RELSCORE_PRODUCER_LINGER_S": "soon"}, ["RELSCORE_PRODUCER_LINGER_S='soon'",
                                              "not a number"]),
    ({"RELSCORE_CLOCK": "now"}, ["RELSCORE_CLOCK='now'", "'event'", "'wall'"]),
])
def test_bad_values_are_refused_with_the_variable_and_the_choices(
    env: dict[str, str], words: list[str]
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    for word in words:
        assert word in str(info.value)


def test_every_variable_is_documented_in_the_design_and_the_readme() -> None:
    root = Path(__file__).resolve().parents[2]
    for doc in ("docs/design.md", "README.md"):
        text = (root / doc).read_text(encoding="utf-8")
        missing = []
        for name in Settings.variables():
            # Tables abbreviate a group: `RELSCORE_TOPIC_SCORES`, `_ALERTS`, ...
            short = "_" + name.split("_", 2)[-1]
            if name not in text and f"`{short}`" not in text:
                missing.append(name)
        assert not missing, f"{doc} does not document {missing}"
