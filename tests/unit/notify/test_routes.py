"""Routes files: what they accept, how they refuse, and where each alert goes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorers.alerts import SEVERITIES
from streams.notify.owners import Owner
from streams.notify.routes import (
    ALERT_TYPES,
    Route,
    RoutesError,
    Routing,
    load_routes,
    routes_from_mapping,
)

ENV = {"CS_URL": "https://hooks.example.com/cs-team/T0-secret-path",
       "CS_SECRET": "s3cr3t-hmac-key", "SLACK_URL": "https://hooks.slack.com/services/T/B/X"}

ROUTES_TOML = """
[destinations.cs-team]
kind = "webhook"
url_env = "CS_URL"
secret_env = "CS_SECRET"
timeout_s = 3

[destinations.cs-slack]
kind = "slack"
url_env = "SLACK_URL"

[destinations.owner-mail]
kind = "email"
to = "owner"
smtp_host = "smtp.example.com"
from = "relscore@example.com"

[[routes]]
severity = ["critical"]
send_to = ["cs-slack", "owner-mail"]

[[routes]]
type = ["below_threshold", "sharp_drop"]
segment = ["enterprise"]
send_to = ["cs-team", "cs-slack"]

[[routes]]
owner = ["Ana Lima"]
send_to = ["owner-mail"]

[fallback]
send_to = ["cs-team"]
"""


@pytest.fixture
def routing(tmp_path: Path) -> Routing:
    path = tmp_path / "routes.toml"
    path.write_text(ROUTES_TOML)
    return load_routes(path, ENV)


def test_a_routes_file_reads_its_secrets_from_the_environment(routing: Routing) -> None:
    team = routing.destinations["cs-team"]
    assert (team.url, team.secret, team.timeout_s) == (ENV["CS_URL"], ENV["CS_SECRET"], 3.0)
    assert routing.destinations["owner-mail"].to == "owner"
    # The secrets never show where a destination is printed or logged.
    shown = repr(routing) + str(routing.destinations)
    assert ENV["CS_URL"] not in shown and ENV["CS_SECRET"] not in shown
    assert "T0-secret-path" not in shown


BO = Owner("c-1", "Bo", "bo@example.com", None)
ANA = Owner("c-2", "Ana Lima", "ana@example.com", "@ana")


@pytest.mark.parametrize(("alert", "owner", "expected"), [
    ({"severity": "critical", "type": "below_threshold", "segment": "enterprise"}, BO,
     ["cs-slack", "owner-mail", "cs-team"]),
    ({"severity": "warning", "type": "below_threshold", "segment": "enterprise"}, BO,
     ["cs-team", "cs-slack"]),
    ({"severity": "warning", "type": "below_threshold", "segment": "smb"}, ANA,
     ["owner-mail"]),
    ({"severity": "info", "type": "recovered", "segment": "smb"}, BO, []),
    ({"severity": "info", "type": "recovered", "segment": None}, None, ["cs-team"]),
    # nobody to mail: the owner-addressed destination is left out
    ({"severity": "critical", "type": "recovered", "segment": None}, None,
     ["cs-slack", "cs-team"]),
    ({"severity": "critical", "type": "recovered", "segment": None},
     Owner("c-3", "Cy", None, "@cy"), ["cs-slack"]),
])
def test_routes_add_up_in_file_order_and_nobodys_customers_go_to_the_fallback(
    routing: Routing, alert: dict[str, str], owner: Owner | None, expected: list[str],
) -> None:
    assert routing.destinations_for(alert, owner) == expected


MAIL = {"kind": "email", "to": "owner", "smtp_host": "smtp.example.com",
        "from": "relscore@example.com"}


def base() -> dict[str, object]:
    return {"destinations": {"cs": {"kind": "webhook", "url": "https://hooks.example.com/x"}},
            "routes": [{"send_to": ["cs"]}]}


@pytest.mark.parametrize(("change", "key", "reason"), [
    ({"route": {"sevrity": ["critical"], "send_to": ["cs"]}}, "routes[1].sevrity",
     "unknown key"),
    ({"route": {"severity": ["urgent"], "send_to": ["cs"]}}, "routes[1].severity",
     "'urgent' is not one of critical, warning, info"),
    ({"route": {"type": "below_threshold", "send_to": ["cs"]}}, "routes[1].type",
     "must be a non-empty list of strings"),
    ({"route": {"send_to": []}}, "routes[1].send_to", "must be a non-empty list"),
    ({"destination": {"kind": "pager"}}, "destinations.cs.kind",
     "must be one of webhook, slack, email, got 'pager'"),
    ({"destination": {"kind": "webhook"}}, "destinations.cs", "needs url_env"),
    ({"destination": {"kind": "webhook", "url_env": "UNSET"}}, "destinations.cs.url_env",
     "the environment variable UNSET is not set"),
    ({"destination": {"kind": "webhook", "url": "ftp://x"}}, "destinations.cs.url",
     "must be an http:// or https:// URL"),
    ({"destination": {"kind": "email", "to": "nobody"}}, "destinations.cs.to",
     "needs to = \"owner\""),
    ({"destination": {"kind": "email", "to": "owner", "from": "r@example.com"}},
     "destinations.cs.smtp_host", "needs the SMTP server's host name"),
    ({"destination": {**MAIL, "password": "hunter2"}}, "destinations.cs.password",
     "in an environment variable (password_env), not in the file"),
    ({"destination": {**MAIL, "username": "r"}}, "destinations.cs",
     "needs password_env"),
    ({"destination": {**MAIL, "username": "r", "password_env": "PW", "starttls": False}},
     "destinations.cs.starttls", "only sent over STARTTLS"),
    ({"destination": {**MAIL, "ca_file": "/nonexistent.pem"}}, "destinations.cs.ca_file",
     "no such file"),
    ({"destination": {"kind": "webhook", "url": "https://x", "smtp_host": "h"}},
     "destinations.cs.smtp_host", "only email destinations take smtp_host"),
    ({"destination": {"kind": "webhook", "url": "https://x", "timeout_s": 0}},
     "destinations.cs.timeout_s", "in (0, 120]"),
    ({"destination": {"kind": "webhook", "url": "https://x", "retries": True}},
     "destinations.cs.retries", "integer from 0 to 20"),
    ({"fallback": {"send_to": ["ops"]}}, "fallback.send_to", "no destination 'ops'"),
    ({"destination": {"kind": "slack", "url": "https://x", "digest": True}},
     "destinations.cs.digest", "only email destinations take digest"),
    ({"destination": {**MAIL, "digest": "daily"}}, "destinations.cs.digest",
     "must be true (a daily email per recipient) or false"),
    ({"destination": {**MAIL, "digest": True, "digest_hour": 24}},
     "destinations.cs.digest_hour", "an hour of the day, 0 to 23"),
    ({"destination": {**MAIL, "digest_hour": 7}}, "destinations.cs.digest_hour",
     "only a digest takes digest_hour"),
])
def test_a_bad_file_is_refused_with_the_key_and_the_reason(
    change: dict[str, dict[str, object]], key: str, reason: str,
) -> None:
    data = base()
    if "route" in change:
        data["routes"] = [change["route"]]
    if "destination" in change:
        data["destinations"] = {"cs": change["destination"]}
    if "fallback" in change:
        data["fallback"] = change["fallback"]
    with pytest.raises(RoutesError) as refused:
        routes_from_mapping(data, {"PW": "pw"}, "routes.toml")
    assert refused.value.key == key
    assert reason in refused.value.reason
    assert str(refused.value).startswith(f"routes.toml: {key}: ")


def test_a_file_that_is_not_toml_or_missing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_text("[destinations.cs\nkind = 1")
    with pytest.raises(RoutesError, match="not valid TOML"):
        load_routes(path, {})
    with pytest.raises(RoutesError, match="cannot read it"):
        load_routes(tmp_path / "missing.toml", {})


def test_a_refusal_never_quotes_a_secret() -> None:
    data = base()
    data["destinations"] = {"cs": {"kind": "webhook", "url": "ftp://user:hunter2@host/x"}}
    with pytest.raises(RoutesError) as refused:
        routes_from_mapping(data, {}, "routes.toml")
    assert "hunter2" not in str(refused.value)


_maybe = st.none() | st.frozensets(st.sampled_from(["a", "b", "c"]), min_size=1)


@given(severity=st.none() | st.frozensets(st.sampled_from(SEVERITIES), min_size=1),
       kind=st.none() | st.frozensets(st.sampled_from(ALERT_TYPES), min_size=1),
       segment=_maybe, owner=_maybe,
       alert_severity=st.sampled_from(SEVERITIES), alert_type=st.sampled_from(ALERT_TYPES),
       alert_segment=st.none() | st.sampled_from(["a", "b", "c"]),
       alert_owner=st.none() | st.sampled_from(["a", "b", "c"]))
def test_a_route_accepts_exactly_the_alerts_that_meet_every_condition(
    severity: frozenset[str] | None, kind: frozenset[str] | None,
    segment: frozenset[str] | None, owner: frozenset[str] | None, alert_severity: str,
    alert_type: str, alert_segment: str | None, alert_owner: str | None,
) -> None:
    route = Route(("d",), severity=severity, type=kind, segment=segment, owner=owner)
    alert = {"severity": alert_severity, "type": alert_type, "segment": alert_segment}
    expected = ((severity is None or alert_severity in severity)
                and (kind is None or alert_type in kind)
                and (segment is None or alert_segment in segment)
                and (owner is None or alert_owner in owner))
    assert route.accepts(alert, alert_owner) == expected
    # Adding a route never takes a destination away.
    first = Routing({}, (route,), fallback=("f",))
    both = Routing({}, (route, Route(("e",))), fallback=("f",))
    owner = None if alert_owner is None else Owner("c", alert_owner, None, None)
    assert set(first.destinations_for(alert, owner)) <= set(both.destinations_for(alert, owner))


def test_the_example_routes_file_loads_with_its_variables_set() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "notify" / "routes.example.toml"
    variables = {"CS_TEAM_WEBHOOK_URL": "https://hooks.example.com/cs",
                 "CS_TEAM_WEBHOOK_SECRET": "s", "CS_SLACK_WEBHOOK_URL": "https://hooks.slack.com/x",
                 "SMTP_PASSWORD": "pw"}
    routing = load_routes(example, variables)
    assert set(routing.destinations) == {"cs-team", "cs-slack", "owner-mail", "owner-digest"}
    assert routing.destinations["owner-digest"].digest
    assert routing.destinations_for(
        {"severity": "critical", "type": "below_threshold", "segment": "enterprise"},
        Owner("c-1", "Ana", "ana@example.com", None),
    ) == ["cs-slack", "owner-mail", "cs-team"]
    mail = routing.destinations["owner-mail"]
    assert (mail.smtp_host, mail.smtp_port, mail.starttls, mail.password) == (
        "smtp.example.com", 587, True, "pw")
    assert "pw" not in repr(mail)
    with pytest.raises(RoutesError, match="CS_TEAM_WEBHOOK_URL is not set"):
        load_routes(example, {})


def test_a_digest_destination_keeps_its_hour() -> None:
    data = base()
    data["destinations"] = {"cs": {**MAIL, "digest": True, "digest_hour": 7}}
    destination = routes_from_mapping(data, {}, "routes.toml").destinations["cs"]
    assert (destination.digest, destination.digest_hour) == (True, 7)
