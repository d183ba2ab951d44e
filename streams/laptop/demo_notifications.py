"""The demo's notifications: owners for the simulated customers, routes to a local webhook
receiver the demo starts, and what reached it, told by owner.

Three customer-success managers own most customers; every eighth customer has no owner, so
its alerts take the fallback route to the team. Both routes end at the same local receiver
(on two paths), which checks every signature.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.laptop.webhook_inbox import Delivery
from streams.notify.owners import Owner

MANAGERS = (("Ana Lima", "ana.lima@example.com", "@ana.lima"),
            ("Ben Okafor", "ben.okafor@example.com", "@ben.okafor"),
            ("Chen Wei", "chen.wei@example.com", "@chen.wei"))
OWNERS_DESTINATION = "cs-owners"
TEAM_DESTINATION = "cs-team"
URL_ENV = {OWNERS_DESTINATION: "DEMO_OWNERS_WEBHOOK_URL", TEAM_DESTINATION: "DEMO_TEAM_WEBHOOK_URL"}
SECRET_ENV = "DEMO_WEBHOOK_SECRET"


def demo_owners(customer_ids: Sequence[str]) -> list[Owner]:
    """An owner for each customer but every eighth, the managers taking turns.

    >>> owners = demo_owners([f"c-{n}" for n in range(9)])
    >>> len(owners), owners[0].owner, owners[0].customer_id
    (7, 'Ben Okafor', 'c-1')
    """
    owners = []
    for number, customer in enumerate(sorted(customer_ids)):
        if number % 8 == 0:
            continue
        name, email, slack = MANAGERS[number % len(MANAGERS)]
        owners.append(Owner(customer, name, email, slack))
    return owners


def routes_text() -> str:
    """A routes file: owned customers' alerts to their owners' hook, the others to the team.

    >>> "[fallback]" in routes_text()
    True
    """
    managers = ", ".join(f'"{name}"' for name, _, _ in MANAGERS)
    return "\n".join([
        *(f'[destinations.{name}]\nkind = "webhook"\nurl_env = "{variable}"\n'
          f'secret_env = "{SECRET_ENV}"\n' for name, variable in URL_ENV.items()),
        f"[[routes]]\nowner = [{managers}]\nsend_to = [\"{OWNERS_DESTINATION}\"]\n",
        f"[fallback]\nsend_to = [\"{TEAM_DESTINATION}\"]\n",
    ])


def write_routes(directory: Path) -> Path:
    path = directory / "routes.toml"
    path.write_text(routes_text(), encoding="utf-8")
    return path


def routes_env(receiver_url: str, secret: str) -> dict[str, str]:
    """The variables :func:`routes_text` names: one path of the receiver per destination."""
    base = receiver_url.rsplit("/", 1)[0]
    return {**{variable: f"{base}/{name}" for name, variable in URL_ENV.items()},
            SECRET_ENV: secret}


@dataclass(frozen=True)
class NotificationTally:
    """What the receiver took, against the alerts the run published."""

    alerts: int
    delivered: int  # distinct alerts taken (2xx)
    repeats: int  # requests for an alert already taken
    signed: int  # taken requests whose signature the receiver verified
    by_owner: dict[str, int]
    to_team: int  # alerts of customers nobody owns (the fallback route)
    missing: list[str]


def tally(alerts: Sequence[dict[str, Any]], deliveries: Sequence[Delivery]) -> NotificationTally:
    """Count, per owner, the alerts the receiver took.

    >>> import orjson
    >>> body = orjson.dumps({"alert_id": "a1", "owner": {"owner": "Ana Lima"}})
    >>> tally([{"alert_id": "a1"}, {"alert_id": "a2"}],
    ...       [Delivery("/cs-owners", "a1", True, body, 200)]).missing
    ['a2']
    """
    taken = [d for d in deliveries if d.status // 100 == 2]
    first: dict[str, Delivery] = {}
    for delivery in taken:
        first.setdefault(str(delivery.idempotency_key), delivery)
    owners: Counter[str] = Counter()
    team = 0
    for delivery in first.values():
        owner = delivery.json().get("owner")
        if owner is None:
            team += 1
        else:
            owners[owner["owner"]] += 1
    wanted = [str(a["alert_id"]) for a in alerts]
    return NotificationTally(
        alerts=len(wanted), delivered=len(first), repeats=len(taken) - len(first),
        signed=sum(d.signed for d in taken), by_owner=dict(sorted(owners.items())),
        to_team=team, missing=[a for a in wanted if a not in first])


def notification_lines(result: NotificationTally) -> list[str]:
    """What the summary says about the notifications.

    >>> notification_lines(NotificationTally(3, 3, 0, 3, {"Ana Lima": 2}, 1, []))[0]
    'Notifications: 3 of 3 alerts delivered to the local webhook, every signature valid:'
    """
    signatures = ("every signature valid" if result.signed == result.delivered + result.repeats
                  else f"{result.signed} signatures valid")
    lines = [f"Notifications: {result.delivered} of {result.alerts} alerts delivered to the "
             f"local webhook, {signatures}:"]
    lines += [f"  {owner:<12} {count} (route to the owner, {OWNERS_DESTINATION})"
              for owner, count in result.by_owner.items()]
    if result.to_team:
        lines.append(f"  {'nobody':<12} {result.to_team} (customers without an owner: "
                     f"fallback to {TEAM_DESTINATION})")
    if result.missing:
        lines.append(f"  not delivered (yet): {len(result.missing)}; see `relscore tail "
                     "notify-dlq` and the notify log")
    return lines
