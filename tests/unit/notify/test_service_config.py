"""How ``relscore notify`` finds where to deliver, and refuses what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli.main import main
from streams.notify.routes import RoutesError
from streams.notify.service import configured_routing
from streams.settings import Settings, SettingsError

SECRET = "https://hooks.example.com/T000/B000/s3cret-token"


def test_the_webhook_url_alone_sends_every_alert_to_it() -> None:
    settings = Settings.from_env({"RELSCORE_NOTIFY_WEBHOOK_URL": SECRET,
                                  "RELSCORE_NOTIFY_WEBHOOK_SECRET": "hmac-key"})
    routing = configured_routing(settings, {})
    [destination] = routing.destinations.values()
    assert (destination.url, destination.secret) == (SECRET, "hmac-key")
    assert routing.destinations_for({"severity": "info", "type": "recovered"}, None) == [
        destination.name]
    assert SECRET not in repr(settings) and "hmac-key" not in repr(settings)


def test_a_routes_file_wins_and_its_refusal_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text('[destinations.cs]\nkind = "webhook"\nurl_env = "CS_URL"\n'
                    '[[routes]]\nsend_to = ["cs"]\n')
    settings = Settings.from_env({"RELSCORE_NOTIFY_ROUTES": str(path)})
    assert list(configured_routing(settings, {"CS_URL": SECRET}).destinations) == ["cs"]
    with pytest.raises(RoutesError, match=r"destinations\.cs\.url_env: the environment "
                                          r"variable CS_URL is not set"):
        configured_routing(settings, {})


@pytest.mark.parametrize(("env", "message"), [
    ({"RELSCORE_NOTIFY_WEBHOOK_URL": "hooks.example.com/x"}, "must be an http:// or https://"),
    ({"RELSCORE_NOTIFY_WEBHOOK_SECRET": "k"}, "without RELSCORE_NOTIFY_WEBHOOK_URL"),
    ({"RELSCORE_NOTIFY_START_FROM": "beginning"}, "use 'earliest' or 'latest'"),
    ({"RELSCORE_NOTIFY_PORT": "70000"}, "RELSCORE_NOTIFY_PORT=70000 is not a TCP port"),
    ({"RELSCORE_NOTIFY_MAX_PENDING": "0"}, "RELSCORE_NOTIFY_MAX_PENDING must be >= 1"),
    ({"RELSCORE_NOTIFY_PAGE_URL": "relscore.example.com"}, "RELSCORE_NOTIFY_PAGE_URL="),
])
def test_bad_notify_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_notify_without_anywhere_to_deliver_exits_2_saying_what_to_set(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in Settings.variables():
        monkeypatch.delenv(name, raising=False)
    assert main(["notify"]) == 2
    assert "set RELSCORE_NOTIFY_ROUTES" in capsys.readouterr().err


def test_notify_check_lists_the_destinations_without_secrets(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RELSCORE_NOTIFY_WEBHOOK_URL", SECRET)
    assert main(["notify", "--check"]) == 0
    out = capsys.readouterr().out
    assert out == "destination webhook: webhook\n1 routes; fallback: none\n"
