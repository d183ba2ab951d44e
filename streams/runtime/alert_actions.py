"""Acknowledging and snoozing alerts: actions recorded as events on a topic, and their state.

``POST /alerts/{alert_id}/ack`` and ``POST /alerts/{alert_id}/snooze?until=...`` write an
:class:`AlertAction` to the compacted ``relationship-alert-actions`` topic, keyed by alert and
action, so the topic keeps each alert's latest acknowledgement and latest snooze. The
workers (for the page and ``/alerts/recent``) and ``relscore notify`` (which holds a snoozed
customer's new alerts) read the topic from its start into an :class:`ActionBook`: a restart,
another worker and a replay all see the same state.

A snooze is about the customer of the alert it was given on: until it ends, that customer's
new alerts are held by ``relscore notify``. Its end is wall-clock time, since people snooze
by the clock.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson

from scorers.alerts import BELOW_THRESHOLD, RECOVERED, SHARP_DROP
from scorers.timefmt import format_ms, parse_rfc3339_ms

log = logging.getLogger(__name__)

ACK = "ack"
SNOOZE = "snooze"
ACTIONS = (ACK, SNOOZE)
MAX_SNOOZE_MS = 30 * 24 * 3600 * 1000
MAX_BY_CHARS = 100
_ALERT_ID = re.compile(
    rf"(?P<customer>.+):(?:{BELOW_THRESHOLD}|{RECOVERED}|{SHARP_DROP}):"
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
_DURATION = re.compile(r"(\d+)([mhd])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


class ActionError(ValueError):
    """An action that cannot be taken; the message says what to send instead."""


def customer_of(alert_id: str) -> str:
    """The customer an alert id belongs to (ids are ``customer:type:as_of``).

    >>> customer_of("acme:emea:1:below_threshold:2026-11-20T10:00:00Z")
    'acme:emea:1'
    >>> try:
    ...     customer_of("acme-1")
    ... except ActionError as exc:
    ...     print(exc)
    'acme-1' is not an alert id (CUSTOMER:TYPE:AS_OF, as in /alerts/recent)
    """
    match = _ALERT_ID.fullmatch(alert_id)
    if match is None:
        raise ActionError(f"{alert_id!r} is not an alert id (CUSTOMER:TYPE:AS_OF, as in "
                          "/alerts/recent)")
    return match["customer"]


def parse_until(text: str, now_ms: int) -> int:
    """A snooze's end: an RFC 3339 time, or a duration from now (``30m``, ``4h``, ``2d``);
    in the future and at most 30 days ahead.

    >>> parse_until("2d", 0), parse_until("1970-01-01T01:00:00Z", 0)
    (172800000, 3600000)
    >>> try:
    ...     parse_until("45d", 0)
    ... except ActionError as exc:
    ...     print(exc)
    until='45d' is more than 30 days ahead; snooze for less
    """
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        until = now_ms + int(duration[1]) * _UNIT_MS[duration[2]]
    else:
        try:
            until = parse_rfc3339_ms(text.strip())
        except ValueError:
            raise ActionError(f"until={text!r}: give an RFC 3339 time "
                              "(2026-12-01T09:00:00Z) or a duration (30m, 4h, 2d)") from None
    if until <= now_ms:
        raise ActionError(f"until={text!r} is not in the future")
    if until - now_ms > MAX_SNOOZE_MS:
        raise ActionError(f"until={text!r} is more than 30 days ahead; snooze for less")
    return until


@dataclass(frozen=True, slots=True)
class AlertAction:
    """Someone acknowledged or snoozed an alert at ``at_ms`` (wall clock)."""

    action: str
    alert_id: str
    customer_id: str
    at_ms: int
    until_ms: int | None = None
    by: str | None = None

    @property
    def key(self) -> bytes:
        """The topic key: one record per alert and action survives compaction."""
        return f"{self.alert_id}|{self.action}".encode()

    def to_json(self) -> bytes:
        """
        >>> AlertAction(ACK, "c-1:recovered:2026-07-14T00:00:00Z", "c-1", 0, by="ana").to_json()
        b'{"action":"ack","alert_id":"c-1:recovered:2026-07-14T00:00:00Z","customer_id":"c-1",\
"at":"1970-01-01T00:00:00Z","until":null,"by":"ana"}'
        """
        return orjson.dumps({
            "action": self.action, "alert_id": self.alert_id, "customer_id": self.customer_id,
            "at": format_ms(self.at_ms),
            "until": None if self.until_ms is None else format_ms(self.until_ms),
            "by": self.by})

    @classmethod
    def from_json(cls, data: bytes) -> AlertAction:
        """Raises ActionError for anything that is not an action."""
        try:
            values = orjson.loads(data)
            action = values["action"]
            if action not in ACTIONS:
                raise ActionError(f"unknown action {action!r}")
            until = values.get("until")
            return cls(action, str(values["alert_id"]), str(values["customer_id"]),
                       parse_rfc3339_ms(values["at"]),
                       None if until is None else parse_rfc3339_ms(until), values.get("by"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ActionError(f"not an alert action: {exc}") from None


def new_action(action: str, alert_id: str, now_ms: int, *, until: str | None = None,
               by: str | None = None) -> AlertAction:
    """Check a request and make its action.

    >>> new_action(SNOOZE, "c-1:below_threshold:2026-11-20T10:00:00Z", 0, until="1h").until_ms
    3600000
    """
    customer = customer_of(alert_id)
    if by is not None and not 1 <= len(by) <= MAX_BY_CHARS:
        raise ActionError(f"by: 1 to {MAX_BY_CHARS} characters (who acts), or leave it out")
    if action == SNOOZE:
        if until is None:
            raise ActionError("snooze needs until= (an RFC 3339 time, or 30m, 4h, 2d)")
        return AlertAction(SNOOZE, alert_id, customer, now_ms, parse_until(until, now_ms), by)
    return AlertAction(ACK, alert_id, customer, now_ms, None, by)


class ActionBook:
    """The state the actions add up to: who acknowledged which alert, which customer is
    snoozed until when.

    >>> book = ActionBook()
    >>> book.apply(AlertAction(SNOOZE, "c-1:below_threshold:2026-11-20T10:00:00Z", "c-1", 0,
    ...                        until_ms=5000))
    >>> book.snoozed_until("c-1", now_ms=1000), book.snoozed_until("c-1", now_ms=6000)
    (5000, None)
    >>> book.state("c-1:below_threshold:2026-11-20T10:00:00Z", now_ms=1000)["state"]
    'open'
    """

    def __init__(self) -> None:
        self._acks: dict[str, AlertAction] = {}
        self._snoozes: dict[str, AlertAction] = {}  # by alert id
        self._latest_snooze: dict[str, AlertAction] = {}  # by customer id

    def apply(self, action: AlertAction) -> None:
        """Take one action (applying the same one twice changes nothing)."""
        if action.action == ACK:
            self._acks[action.alert_id] = action
            return
        self._snoozes[action.alert_id] = action
        # The latest snooze given on any of the customer's alerts decides (so a shorter
        # snooze given later ends an earlier, longer one).
        latest = self._latest_snooze.get(action.customer_id)
        if latest is None or (action.at_ms, action.alert_id) >= (latest.at_ms, latest.alert_id):
            self._latest_snooze[action.customer_id] = action

    def snoozed_until(self, customer_id: str, now_ms: int) -> int | None:
        """When the customer's snooze ends, or None when it is not snoozed at ``now_ms``."""
        latest = self._latest_snooze.get(customer_id)
        until = None if latest is None else latest.until_ms
        return until if until is not None and until > now_ms else None

    def snoozed(self, now_ms: int) -> int:
        """How many customers are snoozed at ``now_ms``."""
        return sum(1 for customer in self._latest_snooze
                   if self.snoozed_until(customer, now_ms) is not None)

    def state(self, alert_id: str, now_ms: int) -> dict[str, Any]:
        """What ``/alerts/recent`` says of an alert: open or acknowledged (by whom, when),
        and the snooze of its customer if one runs."""
        ack = self._acks.get(alert_id)
        snooze = self._snoozes.get(alert_id)
        customer = snooze.customer_id if snooze else _customer_or_none(alert_id)
        until = None if customer is None else self.snoozed_until(customer, now_ms)
        return {
            "state": "acknowledged" if ack else "open",
            "acknowledged_at": None if ack is None else format_ms(ack.at_ms),
            "acknowledged_by": None if ack is None else ack.by,
            "snoozed_until": None if until is None else format_ms(until),
        }


def _customer_or_none(alert_id: str) -> str | None:
    try:
        return customer_of(alert_id)
    except ActionError:
        return None


def apply_action(book: ActionBook, key: bytes | None, value: bytes | None) -> None:
    """Take one record of the alert-actions topic (anything else is logged and skipped)."""
    if value is None:
        return
    try:
        book.apply(AlertAction.from_json(value))
    except ActionError as exc:
        log.warning("alert-actions topic: a record is not an action (key %r): %s", key, exc)
