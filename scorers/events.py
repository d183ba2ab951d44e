"""Input events: decoding and validation of the three event kinds (pure, no I/O).

A payload is bytes from Kafka or a line of a file. :func:`decode_event` either returns a typed
event or raises :class:`InvalidEvent` whose ``reason`` is a short code (a metric label) and whose
message says what was wrong and how to fix it. Nothing here reads a clock: the caller passes the
reference time used for the future-skew rule.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

import orjson

from scorers.timefmt import MAX_EVENT_MS, MIN_EVENT_MS, parse_rfc3339_ms

PURCHASE: Final = "purchase"
TICKET: Final = "ticket"
INTERACTION: Final = "interaction"
EVENT_KINDS: Final = (PURCHASE, TICKET, INTERACTION)

PURCHASE_TYPES: Final = ("purchase", "return", "refund")
TICKET_STATUSES: Final = ("opened", "updated", "escalated", "reopened", "resolved", "closed")
PRIORITY_CODES: Final = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
CHANNELS: Final = (
    "meeting", "call", "email", "chat", "login", "feature_use", "webinar", "survey",
)
DIRECTIONS: Final = ("inbound", "outbound")
MAX_ID_CHARS: Final = 128
MAX_TEXT_CHARS: Final = 256

# Reason codes (metric label values) for rejected input.
OVERSIZED: Final = "oversized"
NOT_JSON: Final = "not_json"
NOT_OBJECT: Final = "not_object"
MISSING_FIELD: Final = "missing_field"
BAD_TYPE: Final = "bad_type"
OUT_OF_RANGE: Final = "out_of_range"
BAD_ID: Final = "bad_id"
BAD_TIMESTAMP: Final = "bad_timestamp"
FUTURE_TIMESTAMP: Final = "future_timestamp"
UNKNOWN_TOPIC: Final = "unknown_topic"
REJECT_REASONS: Final = (
    OVERSIZED, NOT_JSON, NOT_OBJECT, MISSING_FIELD, BAD_TYPE, OUT_OF_RANGE, BAD_ID,
    BAD_TIMESTAMP, FUTURE_TIMESTAMP, UNKNOWN_TOPIC,
)


class InvalidEvent(ValueError):
    """A payload that cannot be scored; ``reason`` is one of :data:`REJECT_REASONS`.

    Examples:

    >>> try:
    ...     validate_event("ticket", {"event_id": "e1", "customer_id": "c-42"}, reference_ms=None)
    ... except InvalidEvent as exc:
    ...     print(exc.reason, "|", exc)
    missing_field | required field 'ts' is missing (RFC 3339 or epoch ms)
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class PurchaseEvent:
    """A validated purchase, return or refund (``type``); ``ts`` is epoch milliseconds.

    Examples:

    >>> event = validate_event("purchase", {
    ...     "event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "order_id": "o-7", "amount": 120, "product_id": "crm"}, reference_ms=None)
    >>> event.ts, event.type, event.amount, event.currency, event.quantity  # with defaults
    (1795168800000, 'purchase', 120.0, 'USD', 1)
    """

    event_id: str
    customer_id: str
    ts: int
    segment: str | None
    order_id: str
    type: str
    amount: float
    currency: str
    product_id: str
    category: str | None
    quantity: int
    kind: str = PURCHASE


@dataclass(frozen=True, slots=True)
class TicketEvent:
    """A validated support-ticket status change; ``priority`` is a code from 0 (low) to 3.

    Examples:

    >>> event = validate_event("ticket", {
    ...     "event_id": "e2", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...     "ticket_id": "t-9", "status": "opened", "priority": "high"}, reference_ms=None)
    >>> event.status, event.priority, event.csat
    ('opened', 2, None)
    """

    event_id: str
    customer_id: str
    ts: int
    segment: str | None
    ticket_id: str
    status: str
    priority: int  # index into PRIORITIES (low=0 .. urgent=3)
    csat: int | None
    category: str | None
    kind: str = TICKET


@dataclass(frozen=True, slots=True)
class InteractionEvent:
    """A validated touch point (call, meeting, login...), optionally with survey answers.

    Examples:

    >>> event = validate_event("interaction", {
    ...     "event_id": "e3", "customer_id": "c-42", "ts": 1795168800000, "channel": "call",
    ...     "direction": "outbound", "sentiment": 0.6, "nps": 9}, reference_ms=None)
    >>> event.channel, event.sentiment, event.nps, event.csat
    ('call', 0.6, 9, None)
    """

    event_id: str
    customer_id: str
    ts: int
    segment: str | None
    channel: str
    direction: str | None
    sentiment: float | None
    nps: int | None
    csat: int | None
    product_id: str | None
    kind: str = INTERACTION


Event = PurchaseEvent | TicketEvent | InteractionEvent


@dataclass(frozen=True, slots=True)
class Limits:
    """Input limits; ``max_future_skew_ms`` is measured against the caller's reference time.

    Examples:

    >>> Limits().max_payload_bytes, Limits().max_future_skew_ms
    (65536, 300000)
    >>> try:
    ...     parse_payload(b'{"event_id": "e1", "note": "' + b"x" * 100 + b'"}', Limits(64))
    ... except InvalidEvent as exc:
    ...     print(exc.reason)
    oversized
    """

    max_payload_bytes: int = 65536
    max_future_skew_ms: int = 5 * 60 * 1000


DEFAULT_LIMITS: Final = Limits()


# Default-ignorable code points outside the Cf category (Unicode DerivedCoreProperties):
# invisible, so two ids differing only by them would look like one customer.
_INVISIBLE_RANGES: Final = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)


def is_invisible(char: str) -> bool:
    """True for control, format and other default-ignorable (invisible) characters.

    Examples:

    >>> is_invisible("a"), is_invisible(chr(0x200B)), is_invisible(chr(0xFE0F))  # ZWSP, VS-16
    (False, True, True)
    >>> is_invisible(" "), is_invisible(chr(0xA0))  # visible spaces are allowed
    (False, False)
    """
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def normalise_customer_id(value: str) -> str:
    """NFC-normalise a customer id, refusing control and invisible characters and ids that
    are not 1-128 characters once normalised.

    Examples:

    >>> normalise_customer_id("c-42")
    'c-42'
    >>> decomposed = "Cafe" + chr(0x301)  # "e" then a combining acute accent
    >>> len(decomposed), len(normalise_customer_id(decomposed))  # composed to one "é"
    (5, 4)
    >>> normalise_customer_id("c-42" + chr(0x200B))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    scorers.events.InvalidEvent: customer_id contains the ... invisible character U+200B; ...
    """
    if value.isascii() and value.isprintable():
        # Printable ASCII holds no control or invisible character and is already NFC.
        normalised = value
    else:
        for char in value:
            if is_invisible(char):
                raise InvalidEvent(
                    BAD_ID,
                    f"customer_id contains the control or invisible character U+{ord(char):04X}; "
                    "remove it at the source (ids are compared after Unicode NFC normalisation)",
                )
        normalised = unicodedata.normalize("NFC", value)
    if not 1 <= len(normalised) <= MAX_ID_CHARS:
        raise InvalidEvent(
            BAD_ID,
            f"customer_id must be 1-{MAX_ID_CHARS} characters after NFC normalisation, "
            f"got {len(normalised)}",
        )
    return normalised


def parse_payload(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Parse one message's bytes into a JSON object, enforcing the size limit first.

    Examples:

    >>> parse_payload(b'{"event_id": "e1", "customer_id": "c-42"}')
    {'event_id': 'e1', 'customer_id': 'c-42'}
    >>> for raw in (b"not json", b"[1, 2]", b"x" * 70_000):
    ...     try:
    ...         parse_payload(raw)
    ...     except InvalidEvent as exc:
    ...         print(exc.reason)
    not_json
    not_object
    oversized
    """
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > limits.max_payload_bytes:
        raise InvalidEvent(
            OVERSIZED,
            f"payload is {size} bytes, over the {limits.max_payload_bytes}-byte limit "
            "(RELSCORE_MAX_PAYLOAD_BYTES); send one event per message",
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(NOT_JSON, f"payload is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(
            NOT_OBJECT, f"payload is a JSON {type(obj).__name__}, expected one JSON object"
        )
    return obj


def decode_event(
    kind: str,
    raw: bytes | str,
    *,
    reference_ms: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> Event:
    """Decode and validate one payload of ``kind`` (see :data:`EVENT_KINDS`).

    Examples:

    >>> raw = (b'{"event_id": "e1", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",'
    ...        b' "order_id": "o-7", "amount": 120.0, "product_id": "crm"}')
    >>> event = decode_event("purchase", raw, reference_ms=None)
    >>> event.kind, event.customer_id, event.amount
    ('purchase', 'c-42', 120.0)
    >>> record_ms = parse_rfc3339_ms("2026-11-20T09:00:00Z")  # the event claims an hour later
    >>> decode_event("purchase", raw, reference_ms=record_ms)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    scorers.events.InvalidEvent: ts is 3600 s ahead of the record time, more than ... 300 s ...
    """
    return validate_event(kind, parse_payload(raw, limits), reference_ms=reference_ms,
                          limits=limits)


def validate_event(
    kind: str,
    obj: dict[str, Any],
    *,
    reference_ms: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> Event:
    """Validate a parsed JSON object as an event of ``kind``.

    ``reference_ms`` is "now" for the future-skew rule (the Kafka record's timestamp in the
    stream, the wall clock offline); None turns that rule off.

    Examples:

    >>> ticket = {"event_id": "e2", "customer_id": "c-42", "ts": "2026-11-20T10:00:00Z",
    ...           "ticket_id": "t-9", "status": "escalated", "priority": "urgent"}
    >>> event = validate_event("ticket", ticket, reference_ms=None)
    >>> type(event).__name__, event.ts, event.priority
    ('TicketEvent', 1795168800000, 3)
    >>> for mistake in ({"priority": "p1"}, {"ts": 1795168800}, {"customer_id": ""}):
    ...     try:
    ...         validate_event("ticket", {**ticket, **mistake}, reference_ms=None)
    ...     except InvalidEvent as exc:
    ...         print(f"{exc.reason}: {exc}")
    out_of_range: priority='p1' is not one of ['low', 'normal', 'high', 'urgent']
    bad_timestamp: ts=1795168800 is outside 1971-01-01..3000-01-01 (epoch seconds sent as ms?)
    bad_id: customer_id must be 1-128 characters, got 0
    """
    event_id = _identifier(obj, "event_id")
    customer_id = normalise_customer_id(_identifier(obj, "customer_id"))
    ts = _timestamp(obj, reference_ms, limits)
    segment = _optional_text(obj, "segment")
    if kind == PURCHASE:
        return _purchase(obj, event_id, customer_id, ts, segment)
    if kind == TICKET:
        return _ticket(obj, event_id, customer_id, ts, segment)
    if kind == INTERACTION:
        return _interaction(obj, event_id, customer_id, ts, segment)
    raise InvalidEvent(UNKNOWN_TOPIC, f"unknown event kind {kind!r}; use one of {EVENT_KINDS}")


def _purchase(
    obj: dict[str, Any], event_id: str, customer_id: str, ts: int, segment: str | None
) -> PurchaseEvent:
    return PurchaseEvent(
        event_id=event_id,
        customer_id=customer_id,
        ts=ts,
        segment=segment,
        order_id=_identifier(obj, "order_id"),
        type=_choice(obj, "type", PURCHASE_TYPES, default="purchase"),
        amount=_number(obj, "amount", 0.0, 1e12, required=True),  # type: ignore[arg-type]
        currency=_currency(obj),
        product_id=_identifier(obj, "product_id"),
        category=_optional_text(obj, "category"),
        quantity=_integer(obj, "quantity", 1, 1_000_000, default=1),  # type: ignore[arg-type]
    )


def _ticket(
    obj: dict[str, Any], event_id: str, customer_id: str, ts: int, segment: str | None
) -> TicketEvent:
    priority = _choice(obj, "priority", tuple(PRIORITY_CODES), default="normal")
    return TicketEvent(
        event_id=event_id,
        customer_id=customer_id,
        ts=ts,
        segment=segment,
        ticket_id=_identifier(obj, "ticket_id"),
        status=_choice(obj, "status", TICKET_STATUSES, default=None),
        priority=PRIORITY_CODES[priority],
        csat=_integer(obj, "csat", 1, 5, default=None),
        category=_optional_text(obj, "category"),
    )


def _interaction(
    obj: dict[str, Any], event_id: str, customer_id: str, ts: int, segment: str | None
) -> InteractionEvent:
    direction = obj.get("direction")
    return InteractionEvent(
        event_id=event_id,
        customer_id=customer_id,
        ts=ts,
        segment=segment,
        channel=_choice(obj, "channel", CHANNELS, default=None),
        direction=None if direction is None else _choice(obj, "direction", DIRECTIONS, None),
        sentiment=_number(obj, "sentiment", -1.0, 1.0, required=False),
        nps=_integer(obj, "nps", 0, 10, default=None),
        csat=_integer(obj, "csat", 1, 5, default=None),
        product_id=_optional_identifier(obj, "product_id"),
    )


def _identifier(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        raise InvalidEvent(MISSING_FIELD, f"required field {name!r} is missing")
    if not isinstance(value, str):
        raise InvalidEvent(BAD_TYPE, f"{name} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID_CHARS:
        raise InvalidEvent(BAD_ID, f"{name} must be 1-{MAX_ID_CHARS} characters, got {len(value)}")
    return value


def _optional_identifier(obj: dict[str, Any], name: str) -> str | None:
    return None if obj.get(name) is None else _identifier(obj, name)


def _optional_text(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(BAD_TYPE, f"{name} must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidEvent(OUT_OF_RANGE, f"{name} is longer than {MAX_TEXT_CHARS} characters")
    return value


def _choice(obj: dict[str, Any], name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = obj.get(name)
    if value is None:
        if default is None:
            raise InvalidEvent(
                MISSING_FIELD, f"required field {name!r} is missing; use one of {list(allowed)}"
            )
        return default
    if not isinstance(value, str):
        raise InvalidEvent(BAD_TYPE, f"{name} must be a string, got {type(value).__name__}")
    if value not in allowed:
        raise InvalidEvent(OUT_OF_RANGE, f"{name}={value[:40]!r} is not one of {list(allowed)}")
    return value


def _number(
    obj: dict[str, Any], name: str, low: float, high: float, *, required: bool
) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise InvalidEvent(MISSING_FIELD, f"required field {name!r} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(BAD_TYPE, f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidEvent(OUT_OF_RANGE, f"{name}={value!r} is outside {low:g}..{high:g}")
    return number


def _integer(
    obj: dict[str, Any], name: str, low: int, high: int, *, default: int | None
) -> int | None:
    value = obj.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(BAD_TYPE, f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidEvent(OUT_OF_RANGE, f"{name}={value} is outside {low}..{high}")
    return value


def _currency(obj: dict[str, Any]) -> str:
    value = obj.get("currency")
    if value is None:
        return "USD"
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isupper():
        raise InvalidEvent(
            OUT_OF_RANGE, f"currency must be a 3-letter ISO 4217 code like 'USD', got {value!r:.40}"
        )
    return value


def _timestamp(obj: dict[str, Any], reference_ms: int | None, limits: Limits) -> int:
    value = obj.get("ts")
    if value is None:
        raise InvalidEvent(MISSING_FIELD, "required field 'ts' is missing (RFC 3339 or epoch ms)")
    if isinstance(value, bool):
        raise InvalidEvent(BAD_TYPE, "ts must be an RFC 3339 string or integer epoch milliseconds")
    if isinstance(value, int):
        ts = value
    elif isinstance(value, str):
        try:
            ts = parse_rfc3339_ms(value)
        except ValueError as exc:
            raise InvalidEvent(BAD_TIMESTAMP, f"ts={value[:40]!r}: {exc}") from None
    else:
        raise InvalidEvent(
            BAD_TYPE, f"ts must be RFC 3339 text or integer epoch ms, got {type(value).__name__}"
        )
    if not MIN_EVENT_MS <= ts < MAX_EVENT_MS:
        raise InvalidEvent(
            BAD_TIMESTAMP,
            f"ts={value!r} is outside 1971-01-01..3000-01-01 (epoch seconds sent as ms?)",
        )
    if reference_ms is not None and ts - reference_ms > limits.max_future_skew_ms:
        raise InvalidEvent(
            FUTURE_TIMESTAMP,
            f"ts is {(ts - reference_ms) / 1000:.0f} s ahead of the record time, more than the "
            f"allowed {limits.max_future_skew_ms / 1000:.0f} s (RELSCORE_MAX_FUTURE_SKEW_MS); "
            "check the producer's clock",
        )
    return ts
