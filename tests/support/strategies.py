"""Hypothesis strategies: valid events of the three kinds for a few customers.

Every event is built as a JSON payload and decoded with :func:`scorers.events.decode_event`, so
the strategies only ever produce what the real ingest path would accept. Event ids are assigned
after drawing (``e-0``, ``e-1``, ...), so they are unique within a history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson
from hypothesis import strategies as st

from scorers.events import (
    CHANNELS,
    DIRECTIONS,
    INTERACTION,
    PURCHASE,
    TICKET,
    TICKET_STATUSES,
    Event,
    InteractionEvent,
    PurchaseEvent,
    TicketEvent,
    decode_event,
)
from scorers.timefmt import format_ms

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
DAY = 86_400_000
CUSTOMERS: tuple[str, ...] = ("c-1", "c-2", "c-3")
SEGMENTS: tuple[str | None, ...] = (None, "enterprise", "smb", "unknown-segment")
PRODUCTS = tuple(f"p-{i}" for i in range(6))
TICKETS = tuple(f"t-{i}" for i in range(4))
ALL_KINDS: tuple[str, ...] = (PURCHASE, TICKET, INTERACTION)
MAX_SPAN_DAYS = 200


def timestamps(span_days: int = MAX_SPAN_DAYS) -> st.SearchStrategy[int]:
    """Event times within ``span_days`` of T0: arbitrary ms, whole days (ties) and hours."""
    return st.one_of(
        st.integers(0, span_days * DAY),
        st.integers(0, span_days).map(lambda d: d * DAY),
        st.integers(0, span_days * 24).map(lambda h: h * HOUR),
    ).map(lambda offset: T0 + offset)


def _ts_field(ts: int) -> st.SearchStrategy[int | str]:
    """The same instant as epoch ms or as RFC 3339 text."""
    return st.sampled_from([ts, format_ms(ts)])


amounts = st.one_of(
    st.integers(0, 5_000),
    st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 10, 99.99, 100, 250]),
)


def purchase_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "order_id": st.sampled_from([f"o-{i}" for i in range(8)]),
            "amount": amounts,
            "product_id": st.sampled_from(PRODUCTS),
        },
        optional={
            "type": st.sampled_from(["purchase", "purchase", "purchase", "return", "refund"]),
            "currency": st.sampled_from(["USD", "EUR"]),
            "category": st.sampled_from(["hardware", "software"]),
            "quantity": st.integers(1, 10),
        },
    )


def ticket_fields(statuses: Sequence[str] = TICKET_STATUSES) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "ticket_id": st.sampled_from(TICKETS),
            "status": st.sampled_from(list(statuses)),
        },
        optional={
            "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
            "csat": st.integers(1, 5),
            "category": st.just("billing"),
        },
    )


def interaction_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"channel": st.sampled_from(list(CHANNELS))},
        optional={
            "direction": st.sampled_from(list(DIRECTIONS)),
            "sentiment": st.floats(-1.0, 1.0, allow_nan=False),
            "nps": st.integers(0, 10),
            "csat": st.integers(1, 5),
            "product_id": st.sampled_from(PRODUCTS),
        },
    )


_FIELDS = {PURCHASE: purchase_fields, TICKET: ticket_fields, INTERACTION: interaction_fields}


@st.composite
def payloads(
    draw: st.DrawFn,
    kinds: Sequence[str] = ALL_KINDS,
    customers: Sequence[str] = CUSTOMERS,
    segments: Sequence[str | None] = SEGMENTS,
    span_days: int = MAX_SPAN_DAYS,
) -> tuple[str, dict[str, Any]]:
    """``(kind, payload)`` of one valid event, with ``event_id`` still to be set."""
    kind = draw(st.sampled_from(list(kinds)))
    payload: dict[str, Any] = dict(draw(_FIELDS[kind]()))
    payload["customer_id"] = draw(st.sampled_from(list(customers)))
    payload["ts"] = draw(timestamps(span_days).flatmap(_ts_field))
    segment = draw(st.sampled_from(list(segments)))
    if segment is not None:
        payload["segment"] = segment
    return kind, payload


def decode(kind: str, payload: dict[str, Any], event_id: str) -> Event:
    """Decode ``payload`` with ``event_id`` through the real validation path."""
    return decode_event(kind, orjson.dumps({**payload, "event_id": event_id}), reference_ms=None)


@st.composite
def histories(
    draw: st.DrawFn,
    kinds: Sequence[str] = ALL_KINDS,
    customers: Sequence[str] = CUSTOMERS,
    segments: Sequence[str | None] = SEGMENTS,
    min_size: int = 1,
    max_size: int = 40,
    span_days: int = MAX_SPAN_DAYS,
) -> list[Event]:
    """A list of valid events with unique event ids, in arrival order (not time order)."""
    drawn = draw(
        st.lists(payloads(kinds, customers, segments, span_days), min_size=min_size,
                 max_size=max_size)
    )
    return [decode(kind, payload, f"e-{i}") for i, (kind, payload) in enumerate(drawn)]


@st.composite
def single_customer_histories(
    draw: st.DrawFn,
    kinds: Sequence[str] = ALL_KINDS,
    min_size: int = 1,
    max_size: int = 40,
) -> list[Event]:
    """One customer's history; the segment is fixed for the customer (or absent)."""
    segment = draw(st.sampled_from(SEGMENTS))
    return draw(histories(kinds, ("c-1",), (segment,), min_size, max_size))


def with_id(event: Event, event_id: str) -> Event:
    """``event`` under another event id."""
    return dataclasses.replace(event, event_id=event_id)


# --- builders for scripted histories ----------------------------------------------------------

_counter = iter(range(10**9))


def _next_id() -> str:
    return f"b-{next(_counter)}"


def purchase(ts: int, amount: float = 100.0, *, customer: str = "c-1", type: str = "purchase",
             product: str = "p-0", segment: str | None = None,
             event_id: str | None = None) -> PurchaseEvent:
    return PurchaseEvent(
        event_id=event_id or _next_id(), customer_id=customer, ts=ts, segment=segment,
        order_id="o-1", type=type, amount=float(amount), currency="USD", product_id=product,
        category=None, quantity=1,
    )


def ticket(ts: int, ticket_id: str = "t-0", status: str = "opened", *, priority: int = 1,
           csat: int | None = None, customer: str = "c-1", segment: str | None = None,
           event_id: str | None = None) -> TicketEvent:
    return TicketEvent(
        event_id=event_id or _next_id(), customer_id=customer, ts=ts, segment=segment,
        ticket_id=ticket_id, status=status, priority=priority, csat=csat, category=None,
    )


def interaction(ts: int, channel: str = "call", *, sentiment: float | None = None,
                nps: int | None = None, csat: int | None = None, product: str | None = None,
                customer: str = "c-1", segment: str | None = None,
                event_id: str | None = None) -> InteractionEvent:
    return InteractionEvent(
        event_id=event_id or _next_id(), customer_id=customer, ts=ts, segment=segment,
        channel=channel, direction=None, sentiment=sentiment, nps=nps, csat=csat,
        product_id=product,
    )
