"""RELSCORE_API_TOKENS and RELSCORE_API_OPEN_HEALTH: parsing, refusals that never show a
token, and the secret kept out of every rendering of the settings."""

from __future__ import annotations

import pytest

from streams.settings import OPERATE, READ, Settings, SettingsError, parse_api_tokens

SECRET = "S3NT1NEL-tok"


def test_pairs_are_parsed_with_their_roles_in_order() -> None:
    tokens = parse_api_tokens(f" read:{SECRET}-r , OPERATE:{SECRET}-o")
    assert [(t.role, t.token, t.label) for t in tokens] == [
        (READ, f"{SECRET}-r", "read#1"), (OPERATE, f"{SECRET}-o", "operate#2")]


def test_unset_or_empty_means_no_tokens() -> None:
    assert parse_api_tokens(None) == () == parse_api_tokens("")
    assert Settings.from_env({"RELSCORE_API_TOKENS": ""}).web.tokens == ()


def test_the_same_token_twice_with_one_role_counts_once() -> None:
    assert len(parse_api_tokens(f"read:{SECRET},read:{SECRET}")) == 1


def test_a_token_may_hold_a_colon() -> None:
    assert parse_api_tokens(f"operate:{SECRET}:x")[0].token == f"{SECRET}:x"


@pytest.mark.parametrize(("value", "words"), [
    (f"admin:{SECRET}", ["pair 1 of 1", "unknown role", "read, operate"]),
    (f"read:{SECRET},operate:", ["pair 2 of 2", "empty operate token"]),
    (f"{SECRET}", ["pair 1 of 1", "no role", "':'"]),
    (f"read:{SECRET},,operate:{SECRET}2", ["pair 2 of 3", "empty"]),
    (f"read:{SECRET},operate:{SECRET}", ["pair 2 of 2", "another role"]),
    (f"read:{SECRET} x", ["pair 1 of 1", "space"]),
    (f"read:{SECRET}\u00e9", ["printable ASCII"]),
    (" , ", ["pair 1 of 2", "empty"]),
])
def test_malformed_values_say_what_and_how_without_the_token(value: str,
                                                             words: list[str]) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"RELSCORE_API_TOKENS": value})
    text = str(info.value)
    assert "RELSCORE_API_TOKENS" in text and "role:token" in text and "unset it" in text
    for word in words:
        assert word in text
    assert SECRET not in text and "S3NT1NEL" not in text


def test_the_tokens_stay_out_of_repr_and_str() -> None:
    settings = Settings.from_env({"RELSCORE_API_TOKENS": f"read:{SECRET}1,operate:{SECRET}2"})
    for text in (repr(settings), str(settings), repr(settings.web), repr(settings.web.tokens),
                 repr(settings.override(app_id="x"))):
        assert "S3NT1NEL" not in text
    assert "read#1" in repr(settings.web.tokens)


def test_a_child_process_gets_the_tokens() -> None:
    settings = Settings.from_env({"RELSCORE_API_TOKENS": f"operate:{SECRET}",
                                  "RELSCORE_API_OPEN_HEALTH": "false"})
    env = settings.to_env()
    assert Settings.from_env(env).web.tokens == settings.web.tokens
    assert Settings.from_env(env).web.api_open_health is False


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("FALSE", False), ("0", False),
                                               ("yes", True), ("off", False)])
def test_open_health_reads_yes_and_no(raw: str, expected: bool) -> None:
    assert Settings.from_env({"RELSCORE_API_OPEN_HEALTH": raw}).web.api_open_health is expected


def test_open_health_defaults_to_true_and_refuses_other_words() -> None:
    assert Settings.from_env({}).web.api_open_health is True
    with pytest.raises(SettingsError, match="RELSCORE_API_OPEN_HEALTH='maybe': use true or false"):
        Settings.from_env({"RELSCORE_API_OPEN_HEALTH": "maybe"})


def test_clients_send_a_token_of_the_role_they_need() -> None:
    web = Settings.from_env({"RELSCORE_API_TOKENS": "read:r1,operate:o1"}).web
    assert web.client_headers() == {"Authorization": "Bearer r1"}
    assert web.client_headers(OPERATE) == {"Authorization": "Bearer o1"}
    only_read = Settings.from_env({"RELSCORE_API_TOKENS": "read:r1"}).web
    assert only_read.client_headers(OPERATE) == {"Authorization": "Bearer r1"}  # then a 403
    assert Settings.from_env({}).web.client_headers() == {}
