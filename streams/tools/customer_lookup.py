"""Asking a running worker about one customer (``GET /customers/{id}``), for a person."""

from __future__ import annotations

from typing import Any, cast

from streams.settings import Settings


def service_url(settings: Settings) -> str:
    """The base URL of the worker these settings name (a wildcard bind means this host).

    >>> service_url(Settings())
    'http://127.0.0.1:6066'
    """
    host = settings.web.host
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.web.port}"


def customer_lines(body: dict[str, object]) -> list[str]:
    """``GET /customers/{id}``'s answer, for a person.

    >>> body = {"customer_id": "c-1", "score": 20.0, "band": "poor", "evidence": 1,
    ...         "alert_hold": "thin_evidence", "below_threshold": False}
    >>> customer_lines(body)[1]
    'score      20.0  poor  (alert held: only 1 events of evidence so far)'
    """

    b = cast(dict[str, Any], body)
    score = b.get("score")
    lines = [f"customer   {b.get('customer_id')}"
             + (f"  (segment {b['segment']})" if b.get("segment") else "")]
    if isinstance(score, int | float):
        if b.get("below_threshold"):
            state = "below the alert threshold"
        elif b.get("alert_hold") == "thin_evidence":
            state = f"alert held: only {b.get('evidence')} events of evidence so far"
        else:
            state = "not alerting"
        lines.append(f"score      {score:.1f}  {b.get('band', '?')}  ({state})")
    lines.append(f"as of      {b.get('as_of')}  events seen {b.get('events_seen')}  "
                 f"confidence {b.get('confidence')}  open tickets {b.get('open_tickets', 0)}")
    components = b.get("components") or {}
    if components:
        lines.append("components")
        for name, value in components.items():
            if isinstance(value, int | float):
                bar = "#" * round(value / 5)
                lines.append(f"  {name:<13} {value:5.1f}  {bar}")
            else:
                lines.append(f"  {name:<13}     -  (no data yet)")
    drivers = b.get("drivers") or []
    if drivers:
        lines.append("what pulls the score down")
        for driver in drivers:
            lines.append(f"  - {driver.get('detail')}  ({driver.get('component')}, "
                         f"-{driver.get('impact')} points)")
    return lines
