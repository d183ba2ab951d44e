"""Which alert goes where: destinations and routes from a TOML file, matched per alert.

Routes add up: an alert goes to the destinations of every route whose conditions it meets, in
the file's order, each destination once. A condition lists the values it accepts; a route
without it accepts any. A customer nobody owns also goes to ``[fallback]``'s destinations.

Secrets stay out of the file when it is kept in git: a destination names the environment
variables that hold its URL and signing secret (``url_env``, ``secret_env``).

A routes file:

    [destinations.cs-team]
    kind = "webhook"
    url_env = "CS_TEAM_WEBHOOK_URL"
    secret_env = "CS_TEAM_WEBHOOK_SECRET"

    [[routes]]
    severity = ["critical", "warning"]
    send_to = ["cs-team"]

    [fallback]
    send_to = ["cs-team"]
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorers.alerts import BELOW_THRESHOLD, RECOVERED, SEVERITIES, SHARP_DROP
from streams.notify.owners import Owner

KINDS = ("webhook", "slack", "email")
ALERT_TYPES = (BELOW_THRESHOLD, RECOVERED, SHARP_DROP)
CONDITIONS = ("severity", "type", "segment", "owner")
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 5
DEFAULT_SMTP_PORT = 587
DEFAULT_DIGEST_HOUR = 8
# The destination `RELSCORE_NOTIFY_WEBHOOK_URL` makes when there is no routes file.
DEFAULT_DESTINATION = "webhook"
# An email destination's ``to`` that means the customer's owner's address.
OWNER = "owner"


class RoutesError(ValueError):
    """The routes file is refused; ``key`` is the dotted path of the culprit.

    >>> try:
    ...     routes_from_mapping({"destinations": {"cs": {"kind": "webhook", "url": "https://x"}},
    ...                          "routes": [{"send_to": ["nowhere"]}]}, {}, "routes.toml")
    ... except RoutesError as exc:
    ...     print(exc)
    routes.toml: routes[1].send_to: no destination 'nowhere' (define [destinations.nowhere])
    """

    def __init__(self, key: str, reason: str, source: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{source}: {key}: {reason}")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where alerts are delivered. ``url`` and ``secret`` are secrets: never logged."""

    name: str
    kind: str
    url: str | None = None
    secret: str | None = None
    # email: an address, or "owner" for the customer's owner's address
    to: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    # email: the SMTP server, the sender, and the login (the password is a secret)
    smtp_host: str | None = None
    smtp_port: int = DEFAULT_SMTP_PORT
    starttls: bool = True
    sender: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    # email: one message a day per recipient, from digest_hour (UTC) on
    digest: bool = False
    digest_hour: int = DEFAULT_DIGEST_HOUR

    def __repr__(self) -> str:
        return f"Destination(name={self.name!r}, kind={self.kind!r})"


@dataclass(frozen=True, slots=True)
class Route:
    """Conditions (None: any value) and the destinations of the alerts that meet them all."""

    send_to: tuple[str, ...]
    severity: frozenset[str] | None = None
    type: frozenset[str] | None = None
    segment: frozenset[str] | None = None
    owner: frozenset[str] | None = None

    def accepts(self, alert: Mapping[str, Any], owner: str | None) -> bool:
        """True when ``alert`` (of a customer owned by ``owner``) meets every condition.

        >>> route = Route(("cs",), severity=frozenset({"critical"}))
        >>> route.accepts({"severity": "critical"}, None), route.accepts({"severity": "info"}, None)
        (True, False)
        """
        return all(
            accepted is None or value in accepted
            for accepted, value in (
                (self.severity, alert.get("severity")),
                (self.type, alert.get("type")),
                (self.segment, alert.get("segment")),
                (self.owner, owner),
            )
        )


@dataclass(frozen=True, slots=True)
class Routing:
    destinations: Mapping[str, Destination]
    routes: tuple[Route, ...]
    fallback: tuple[str, ...] = ()

    def destinations_for(self, alert: Mapping[str, Any], owner: Owner | None) -> list[str]:
        """The names of the destinations ``alert`` goes to, each once, in the file's order.
        ``owner`` is the customer's, None when nobody owns it: then the fallback's
        destinations are added, and those addressed to the owner are left out (as they are
        when the owner has no email address).

        >>> routing = Routing({}, (Route(("slack",), severity=frozenset({"critical"})),
        ...                        Route(("webhook", "slack"))), fallback=("team",))
        >>> ana = Owner("c-1", "Ana", None, None)
        >>> routing.destinations_for({"severity": "critical"}, ana)
        ['slack', 'webhook']
        >>> routing.destinations_for({"severity": "info"}, None)  # nobody owns the customer
        ['webhook', 'slack', 'team']
        """
        name = None if owner is None else owner.owner
        names: dict[str, None] = {}
        for route in self.routes:
            if route.accepts(alert, name):
                names.update(dict.fromkeys(route.send_to))
        if owner is None:
            names.update(dict.fromkeys(self.fallback))
        unreachable = owner is None or owner.email is None
        return [destination for destination in names
                if not (unreachable and self._to_owner(destination))]

    def _to_owner(self, name: str) -> bool:
        destination = self.destinations.get(name)
        return destination is not None and destination.to == OWNER


def single_webhook(url: str, secret: str | None) -> Routing:
    """No routes file: every alert to the one webhook at ``url``.

    >>> single_webhook("https://hooks.example.com/x", None).destinations_for({}, None)
    ['webhook']
    """
    destination = Destination(DEFAULT_DESTINATION, "webhook", url=url, secret=secret)
    return Routing({destination.name: destination}, (Route((destination.name,)),))


def load_routes(path: Path, env: Mapping[str, str]) -> Routing:
    """The routes file at ``path``, its secrets read from ``env``; RoutesError when refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutesError("(file)", f"cannot read it: {exc.strerror or exc}", str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutesError("(syntax)", f"not valid TOML: {exc}", str(path)) from None
    return routes_from_mapping(data, env, str(path))


def routes_from_mapping(data: Mapping[str, Any], env: Mapping[str, str], source: str) -> Routing:
    """Check and build the routing a parsed routes file describes.

    >>> routing = routes_from_mapping({
    ...     "destinations": {"cs": {"kind": "webhook", "url_env": "CS_URL"}},
    ...     "routes": [{"type": ["below_threshold"], "send_to": ["cs"]}],
    ... }, {"CS_URL": "https://hooks.example.com/cs"}, "routes.toml")
    >>> routing.destinations["cs"].url
    'https://hooks.example.com/cs'
    >>> routing.destinations_for({"type": "recovered"}, Owner("c-1", "Ana", None, None))
    []
    """
    _only(data, ("destinations", "routes", "fallback"), "", source)
    tables = data.get("destinations", {})
    if not isinstance(tables, dict) or not tables:
        raise RoutesError("destinations", "define at least one [destinations.NAME] table", source)
    destinations = {name: _destination(name, table, env, source) for name, table in tables.items()}
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list) or not raw_routes:
        raise RoutesError("routes", "define at least one [[routes]] table", source)
    routes = tuple(_route(f"routes[{number}]", raw, destinations, source)
                   for number, raw in enumerate(raw_routes, start=1))
    fallback: tuple[str, ...] = ()
    if "fallback" in data:
        table = data["fallback"]
        if not isinstance(table, dict):
            raise RoutesError("fallback", "must be a table like [fallback]", source)
        _only(table, ("send_to",), "fallback", source)
        fallback = _send_to("fallback.send_to", table.get("send_to"), destinations, source)
    return Routing(destinations, routes, fallback)


def _only(table: Mapping[str, Any], allowed: tuple[str, ...], where: str, source: str) -> None:
    for key in table:
        if key not in allowed:
            raise RoutesError(f"{where}.{key}" if where else key,
                              f"unknown key (use {', '.join(allowed)})", source)


_DESTINATION_KEYS = ("kind", "url", "url_env", "secret_env", "to", "timeout_s", "retries",
                     "smtp_host", "smtp_port", "starttls", "from", "username", "password",
                     "password_env", "ca_file", "digest", "digest_hour")
_EMAIL_KEYS = ("smtp_host", "smtp_port", "starttls", "from", "username", "password",
               "password_env", "ca_file", "digest", "digest_hour")


def _destination(name: str, table: Any, env: Mapping[str, str], source: str) -> Destination:
    where = f"destinations.{name}"
    if not isinstance(table, dict):
        raise RoutesError(where, f"must be a table like [{where}]", source)
    _only(table, _DESTINATION_KEYS, where, source)
    kind = table.get("kind")
    if kind not in KINDS:
        raise RoutesError(f"{where}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}",
                          source)
    if kind != "email":
        for key in _EMAIL_KEYS:
            if key in table:
                raise RoutesError(f"{where}.{key}", f"only email destinations take {key} "
                                  f"(this is {kind})", source)
    url = _secret(where, table, "url", env, source, required=kind != "email")
    secret = _secret(where, table, "secret", env, source, required=False)
    if url is not None and not url.startswith(("https://", "http://")):
        raise RoutesError(f"{where}.url", "must be an http:// or https:// URL", source)
    to = table.get("to")
    if kind == "email":
        if not isinstance(to, str) or not (to == OWNER or "@" in to):
            raise RoutesError(f"{where}.to", "an email destination needs to = \"owner\" (the "
                              "customer's owner) or an address", source)
    elif to is not None:
        raise RoutesError(f"{where}.to", f"only email destinations take to (this is {kind})",
                          source)
    timeout_s = table.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not (
            0 < timeout_s <= 120):
        raise RoutesError(f"{where}.timeout_s", "must be a number of seconds in (0, 120]",
                          source)
    retries = table.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise RoutesError(f"{where}.retries", "must be an integer from 0 to 20", source)
    if kind != "email":
        return Destination(name, str(kind), url=url, secret=secret, to=to,
                           timeout_s=float(timeout_s), retries=retries)
    return Destination(name, "email", to=to, timeout_s=float(timeout_s), retries=retries,
                       **_smtp(where, table, env, source))


def _smtp(where: str, table: Mapping[str, Any], env: Mapping[str, str],
          source: str) -> dict[str, Any]:
    """An email destination's server, sender and login."""
    host, sender = table.get("smtp_host"), table.get("from")
    if not isinstance(host, str) or not host:
        raise RoutesError(f"{where}.smtp_host", "an email destination needs the SMTP server's "
                          "host name", source)
    if not isinstance(sender, str) or "@" not in sender:
        raise RoutesError(f"{where}.from", "an email destination needs the sender's address",
                          source)
    port = table.get("smtp_port", DEFAULT_SMTP_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise RoutesError(f"{where}.smtp_port", "must be a TCP port (1-65535)", source)
    starttls = table.get("starttls", True)
    if not isinstance(starttls, bool):
        raise RoutesError(f"{where}.starttls", "must be true or false", source)
    username = table.get("username")
    if username is not None and (not isinstance(username, str) or not username):
        raise RoutesError(f"{where}.username", "must be a non-empty string", source)
    if "password" in table:
        raise RoutesError(f"{where}.password", "give the password in an environment "
                          "variable (password_env), not in the file", source)
    password = _secret(where, table, "password", env, source, required=username is not None)
    if username is not None and not starttls:
        raise RoutesError(f"{where}.starttls", "a login is only sent over STARTTLS; set "
                          "starttls = true", source)
    ca_file = table.get("ca_file")
    if ca_file is not None and (not isinstance(ca_file, str) or not Path(ca_file).is_file()):
        raise RoutesError(f"{where}.ca_file", f"no such file: {ca_file!r} (a PEM CA "
                          "certificate)", source)
    digest = table.get("digest", False)
    if not isinstance(digest, bool):
        raise RoutesError(f"{where}.digest", "must be true (a daily email per recipient) or "
                          "false", source)
    hour = table.get("digest_hour", DEFAULT_DIGEST_HOUR)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise RoutesError(f"{where}.digest_hour", "must be an hour of the day, 0 to 23 (UTC)",
                          source)
    if "digest_hour" in table and not digest:
        raise RoutesError(f"{where}.digest_hour", "only a digest takes digest_hour; set "
                          "digest = true", source)
    return {"smtp_host": host, "smtp_port": port, "starttls": starttls, "sender": sender,
            "username": username, "password": password, "ca_file": ca_file,
            "digest": digest, "digest_hour": hour}


def _secret(where: str, table: Mapping[str, Any], key: str, env: Mapping[str, str], source: str,
            *, required: bool) -> str | None:
    """``key`` from the file, or from the environment variable ``key_env`` names."""
    variable = table.get(f"{key}_env")
    if variable is not None:
        if not isinstance(variable, str) or not variable:
            raise RoutesError(f"{where}.{key}_env", "must name an environment variable", source)
        value = env.get(variable)
        if not value:
            raise RoutesError(f"{where}.{key}_env", f"the environment variable {variable} is "
                              "not set (or empty); set it where relscore notify runs", source)
        return value
    value = table.get(key)
    if value is None:
        if required:
            also = "" if key == "password" else f" or {key}"
            raise RoutesError(where, f"needs {key}_env (the variable that holds its "
                              f"{key}){also}", source)
        return None
    if not isinstance(value, str) or not value:
        raise RoutesError(f"{where}.{key}", "must be a non-empty string", source)
    return value


def _route(where: str, raw: Any, destinations: Mapping[str, Destination],
           source: str) -> Route:
    if not isinstance(raw, dict):
        raise RoutesError(where, "must be a table like [[routes]]", source)
    _only(raw, ("send_to", *CONDITIONS), where, source)
    allowed: dict[str, tuple[str, ...] | None] = {
        "severity": SEVERITIES, "type": ALERT_TYPES, "segment": None, "owner": None}
    conditions: dict[str, frozenset[str] | None] = {}
    for key in CONDITIONS:
        conditions[key] = None if key not in raw else _values(
            f"{where}.{key}", raw[key], allowed[key], source)
    return Route(_send_to(f"{where}.send_to", raw.get("send_to"), destinations, source),
                 **conditions)


def _values(where: str, value: Any, allowed: tuple[str, ...] | None,
            source: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(
            isinstance(item, str) and item for item in value):
        raise RoutesError(where, "must be a non-empty list of strings, like [\"a\", \"b\"]",
                          source)
    if allowed is not None:
        for item in value:
            if item not in allowed:
                raise RoutesError(where, f"{item!r} is not one of {', '.join(allowed)}", source)
    return frozenset(value)


def _send_to(where: str, value: Any, destinations: Mapping[str, Destination],
             source: str) -> tuple[str, ...]:
    _values(where, value, None, source)
    for name in value:
        if name not in destinations:
            raise RoutesError(where, f"no destination {name!r} (define [destinations.{name}])",
                              source)
    return tuple(dict.fromkeys(value))
