"""Fuzzing the decode/validate path: every input is either accepted under a stated rule or goes
to the dead-letter topic with a reason code from REJECT_REASONS; nothing raises anything else.

Targets: :func:`scorers.events.decode_event` (the pure validator) and
:meth:`streams.runtime.processor.Processor.decode` (the worker's per-record decision: score here,
re-key, or dead-letter). The acceptance rules checked on every accepted event:

- ``event_id`` is a string of 1-128 characters; ``customer_id`` likewise, in Unicode NFC, with
  no control, format (zero-width), surrogate or line/paragraph separator characters;
- ``ts`` is integer epoch milliseconds in 1971-01-01..3000-01-01 and at most the allowed skew
  ahead of the reference time;
- numbers are finite and in range: amount 0..1e12, quantity 1..1e6, sentiment -1..1, nps 0-10,
  csat 1-5; enumerations take one of their documented values.

The processor's log records name the record's coordinates (topic[partition]@offset) and the
reason code, never the payload.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scorers.config import DEFAULT_CONFIG
from scorers.events import (
    CHANNELS,
    DIRECTIONS,
    EVENT_KINDS,
    INTERACTION,
    MAX_ID_CHARS,
    PURCHASE,
    PURCHASE_TYPES,
    REJECT_REASONS,
    TICKET,
    TICKET_STATUSES,
    Event,
    InteractionEvent,
    InvalidEvent,
    Limits,
    PurchaseEvent,
    TicketEvent,
    decode_event,
    is_invisible,
)
from scorers.timefmt import MAX_EVENT_MS, MIN_EVENT_MS
from streams.runtime.processor import KIND_HEADER, Decoded, Emit, Processor, Record
from streams.settings import Settings

SETTINGS = Settings()
LIMITS = Limits(SETTINGS.worker.max_payload_bytes, SETTINGS.worker.max_future_skew_ms)
NOW = 1_790_000_000_000  # record time of every fuzzed record
TOPIC_KINDS = {SETTINGS.topics.purchases: PURCHASE, SETTINGS.topics.tickets: TICKET,
               SETTINGS.topics.interactions: INTERACTION}
FORBIDDEN_ID_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- the stated rules


def assert_accepted_by_the_rules(event: Event, reference_ms: int | None) -> None:
    """What an accepted event must satisfy (see the module docstring)."""
    assert isinstance(event.event_id, str) and 1 <= len(event.event_id) <= MAX_ID_CHARS
    cid = event.customer_id
    assert isinstance(cid, str) and 1 <= len(cid) <= MAX_ID_CHARS, len(cid)
    assert unicodedata.normalize("NFC", cid) == cid
    assert not any(unicodedata.category(ch) in FORBIDDEN_ID_CATEGORIES for ch in cid)
    assert type(event.ts) is int and MIN_EVENT_MS <= event.ts < MAX_EVENT_MS
    if reference_ms is not None:
        assert event.ts - reference_ms <= LIMITS.max_future_skew_ms
    if isinstance(event, PurchaseEvent):
        assert event.type in PURCHASE_TYPES
        assert math.isfinite(event.amount) and 0 <= event.amount <= 1e12
        assert type(event.quantity) is int and 1 <= event.quantity <= 1_000_000
        assert len(event.currency) == 3 and event.currency.isascii() and event.currency.isupper()
        assert isinstance(event.order_id, str) and isinstance(event.product_id, str)
    elif isinstance(event, TicketEvent):
        assert event.status in TICKET_STATUSES
        assert event.priority in (0, 1, 2, 3)
        assert event.csat is None or 1 <= event.csat <= 5
    else:
        assert isinstance(event, InteractionEvent)
        assert event.channel in CHANNELS
        assert event.direction is None or event.direction in DIRECTIONS
        assert event.sentiment is None or (
            math.isfinite(event.sentiment) and -1 <= event.sentiment <= 1)
        assert event.nps is None or 0 <= event.nps <= 10
        assert event.csat is None or 1 <= event.csat <= 5


def outcome(kind: str, raw: bytes | str, reference_ms: int | None = NOW) -> Event | str:
    """The event, or the reject reason; any other exception fails the test."""
    try:
        event = decode_event(kind, raw, reference_ms=reference_ms, limits=LIMITS)
    except InvalidEvent as exc:
        assert exc.reason in REJECT_REASONS, exc.reason
        assert str(exc), "a reject must say what was wrong"
        return exc.reason
    assert_accepted_by_the_rules(event, reference_ms)
    return event


def reason(kind: str, raw: bytes | str, reference_ms: int | None = NOW) -> str:
    result = outcome(kind, raw, reference_ms)
    assert isinstance(result, str), f"accepted: {result!r}"
    return result


def base(kind: str, **fields: Any) -> dict[str, Any]:
    """A valid payload of ``kind`` with ``fields`` changed (None values removed)."""
    body: dict[str, Any] = {"event_id": "e-1", "customer_id": "c-1", "ts": NOW - 60_000}
    body.update({
        PURCHASE: {"order_id": "o-1", "amount": 12.5, "product_id": "p-1"},
        TICKET: {"ticket_id": "t-1", "status": "opened"},
        INTERACTION: {"channel": "call"},
    }[kind])
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


# ---------------------------------------------------------------- strategies

json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = ("event_id", "customer_id", "ts", "segment", "order_id", "type", "amount",
               "currency", "product_id", "category", "quantity", "ticket_id", "status",
               "priority", "csat", "channel", "direction", "sentiment", "nps")
plausible = {
    "ts": st.integers(-(2**63), 2**63 - 1) | st.sampled_from(
        [NOW, NOW + 10**9, MIN_EVENT_MS - 1, MAX_EVENT_MS, 1_790_000_000, "2026-11-28T10:00:00Z",
         "2026-11-28T10:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
         "2999-12-31T23:59:59Z", "1999-12-31T23:59:59Z", "not a time", ""]),
    "amount": st.floats() | st.integers(-(2**63), 2**63 - 1),
    "quantity": st.integers(-5, 2_000_000) | st.floats(),
    "sentiment": st.floats(),
    "nps": st.integers(-3, 13), "csat": st.integers(-1, 7),
    "type": st.sampled_from([*PURCHASE_TYPES, "gift", "", "PURCHASE"]),
    "status": st.sampled_from([*TICKET_STATUSES, "open", ""]),
    "priority": st.sampled_from(["low", "normal", "high", "urgent", "p1", ""]),
    "channel": st.sampled_from([*CHANNELS, "fax", ""]),
    "direction": st.sampled_from([*DIRECTIONS, "sideways"]),
    "currency": st.sampled_from(["USD", "eur", "EURO", "€€€", ""]),
    "customer_id": st.text(max_size=140) | st.sampled_from(
        ["c-1", "Jose\u0301", "Jos\u00e9", "c\u200b1", "c\u00001", "\ufeffc", "x" * 129]),
}


@st.composite
def event_like(draw: st.DrawFn) -> dict[str, Any]:
    """A dict that looks like an event: each known field valid, mistyped, odd or absent."""
    kind = draw(st.sampled_from(EVENT_KINDS))
    body = base(kind)
    for name in FIELD_NAMES:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            body.pop(name, None)
        elif choice == 1:
            body[name] = draw(json_values)
        elif choice == 2 and name in plausible:
            body[name] = draw(plausible[name])
    if draw(st.booleans()):
        body[draw(st.text(max_size=12))] = draw(json_values)  # unknown extra field
    body["__kind"] = kind
    return body


# ---------------------------------------------------------------- decode_event


@FUZZ
@given(raw=st.binary(max_size=2048), kind=st.sampled_from(EVENT_KINDS))
def test_random_bytes_are_rejected_with_a_reason_or_accepted_by_the_rules(
        raw: bytes, kind: str) -> None:
    outcome(kind, raw)


@FUZZ
@given(raw=st.text(max_size=512), kind=st.sampled_from(EVENT_KINDS))
def test_random_text_including_lone_surrogates_never_raises_anything_else(
        raw: str, kind: str) -> None:
    outcome(kind, raw)


@FUZZ
@given(value=json_values, kind=st.sampled_from(EVENT_KINDS))
def test_any_json_value_is_rejected_or_accepted_by_the_rules(value: Any, kind: str) -> None:
    result = outcome(kind, orjson.dumps(value))
    if not isinstance(value, dict):
        assert result == "not_object"


@FUZZ
@given(body=event_like(), reference=st.sampled_from([NOW, None]))
def test_event_like_payloads_with_wrong_types_and_odd_values(
        body: dict[str, Any], reference: int | None) -> None:
    kind = body.pop("__kind")
    try:
        raw = orjson.dumps(body)
    except TypeError:
        # orjson refuses ints beyond 64 bits and non-string keys: nothing to send.
        assume(False)
    outcome(kind, raw, reference)


def test_oversized_payloads_are_rejected_before_parsing() -> None:
    huge = orjson.dumps(base(PURCHASE, filler="x" * LIMITS.max_payload_bytes))
    assert reason(PURCHASE, huge) == "oversized"
    assert reason(PURCHASE, b"{" * (LIMITS.max_payload_bytes + 1)) == "oversized"
    assert reason(PURCHASE, b"[" * 10_000_000) == "oversized"
    at_limit = orjson.dumps(base(PURCHASE, filler=""))
    pad = LIMITS.max_payload_bytes - len(at_limit)
    exactly = orjson.dumps(base(PURCHASE, filler="y" * pad))
    assert len(exactly) == LIMITS.max_payload_bytes
    assert isinstance(outcome(PURCHASE, exactly), PurchaseEvent)


@pytest.mark.parametrize("depth", [10_000, 1_025])
def test_deeply_nested_arrays_are_not_json_whether_alone_or_in_a_field(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    assert reason(INTERACTION, nested) == "not_json"
    inside = orjson.dumps(base(INTERACTION))[:-1] + b',"extra":' + nested + b"}"
    assert reason(INTERACTION, inside) == "not_json"


def test_moderately_nested_unknown_fields_are_ignored() -> None:
    nested = b"[" * 200 + b"]" * 200
    inside = orjson.dumps(base(INTERACTION))[:-1] + b',"extra":' + nested + b"}"
    assert isinstance(outcome(INTERACTION, inside), InteractionEvent)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"])
def test_nan_and_infinity_never_become_numbers(literal: bytes) -> None:
    for name in ("amount", "quantity"):
        raw = orjson.dumps(base(PURCHASE))[:-1] + b',"' + name.encode() + b'":' + literal + b"}"
        assert reason(PURCHASE, raw) == "not_json"
    raw = orjson.dumps(base(INTERACTION))[:-1] + b',"sentiment":' + literal + b"}"
    assert reason(INTERACTION, raw) == "not_json"


@pytest.mark.parametrize(("fields", "expected"), [
    ({"amount": -0.01}, "out_of_range"),
    ({"amount": -1e300}, "out_of_range"),
    ({"amount": 1e13}, "out_of_range"),
    ({"amount": "12"}, "bad_type"),
    ({"amount": True}, "bad_type"),
    ({"amount": None}, "missing_field"),
    ({"quantity": 0}, "out_of_range"),
    ({"quantity": 1.5}, "bad_type"),
    ({"quantity": 2**64 - 1}, "out_of_range"),
    ({"currency": "usd"}, "out_of_range"),
    ({"type": "gift"}, "out_of_range"),
    ({"order_id": ""}, "bad_id"),
    ({"order_id": 7}, "bad_type"),
])
def test_purchase_numbers_and_fields(fields: dict[str, Any], expected: str) -> None:
    assert reason(PURCHASE, orjson.dumps(base(PURCHASE, **fields))) == expected


@pytest.mark.parametrize(("ts", "expected"), [
    (NOW + LIMITS.max_future_skew_ms + 1, "future_timestamp"),
    (MAX_EVENT_MS - 1, "future_timestamp"),
    (MAX_EVENT_MS, "bad_timestamp"),
    (2**63 - 1, "bad_timestamp"),
    (MIN_EVENT_MS - 1, "bad_timestamp"),
    (0, "bad_timestamp"),
    (-(2**63), "bad_timestamp"),
    (1_790_000_000, "bad_timestamp"),  # epoch seconds sent as milliseconds
    (1.79e12, "bad_type"),
    (True, "bad_type"),
    ([NOW], "bad_type"),
    ("2999-12-31T23:59:59Z", "future_timestamp"),
    ("3000-01-01T00:00:00Z", "bad_timestamp"),
    ("1970-12-31T23:59:59Z", "bad_timestamp"),
    ("0001-01-01T00:00:00+01:00", "bad_timestamp"),
    ("9999-12-31T23:59:59-23:59", "bad_timestamp"),
    ("2026-11-28T10:00:00", "bad_timestamp"),  # no offset
    ("2026-11-28T10:00:00+24:00", "bad_timestamp"),
    ("yesterday", "bad_timestamp"),
    ("", "bad_timestamp"),
])
def test_far_future_ancient_and_malformed_timestamps(ts: Any, expected: str) -> None:
    assert reason(INTERACTION, orjson.dumps(base(INTERACTION, ts=ts))) == expected


def test_a_far_future_timestamp_is_accepted_only_without_a_reference_time() -> None:
    raw = orjson.dumps(base(INTERACTION, ts=MAX_EVENT_MS - 1))
    assert reason(INTERACTION, raw, NOW) == "future_timestamp"
    assert isinstance(outcome(INTERACTION, raw, None), InteractionEvent)


# ---------------------------------------------------------------- Unicode customer ids

ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
              min_size=1, max_size=40)


@FUZZ
@given(cid=ids)
def test_nfc_and_nfd_spellings_of_one_id_are_one_customer(cid: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", cid), unicodedata.normalize("NFD", cid)
    assume(len(nfd) <= MAX_ID_CHARS)
    first = outcome(INTERACTION, orjson.dumps(base(INTERACTION, customer_id=nfc)))
    second = outcome(INTERACTION, orjson.dumps(base(INTERACTION, customer_id=nfd)))
    if isinstance(first, str) or isinstance(second, str):
        assert first == second == "bad_id", (first, second)
        # Refused only for a control/format character or another default-ignorable code
        # point (e.g. the unassigned U+E0080 of the tag block, which Unicode reserves as such).
        assert any(unicodedata.category(ch) in FORBIDDEN_ID_CATEGORIES or is_invisible(ch)
                   for ch in cid)
    else:
        assert first.customer_id == second.customer_id == nfc


@FUZZ
@given(prefix=st.text(alphabet="abc-0123", max_size=8), suffix=st.text(alphabet="xyz", max_size=8),
       bad=st.characters(categories=("Cc", "Cf", "Zl", "Zp")))
def test_control_and_zero_width_format_characters_are_rejected(
        prefix: str, suffix: str, bad: str) -> None:
    cid = prefix + bad + suffix
    assert reason(PURCHASE, orjson.dumps(base(PURCHASE, customer_id=cid))) == "bad_id"


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
                                  "\u180e", "\U000e0001", "\x00", "\x1f", "\x7f", "\x85",
                                  "\u2028", "\u2029"])
def test_known_invisible_and_control_characters_are_rejected(char: str) -> None:
    assert reason(TICKET, orjson.dumps(base(TICKET, customer_id=f"acme{char}corp"))) == "bad_id"


@pytest.mark.parametrize("char", ["\u034f", "\ufe0f", "\U000e0100"])
def test_zero_width_marks_outside_the_format_category_are_rejected(char: str) -> None:
    """docs/design.md: ids with zero-width characters are rejected. These default-ignorable,
    zero-width code points (combining grapheme joiner, variation selectors) are
    category Mn, not Cf, so "acme" and "acme" + U+034F are two customers that look alike."""
    assert reason(TICKET, orjson.dumps(base(TICKET, customer_id=f"acme{char}"))) == "bad_id"


def test_an_id_that_grows_past_128_characters_under_nfc_is_not_accepted_as_such() -> None:
    """NFC can lengthen a string (U+FB2C becomes three code points): the 1-128 rule must hold
    for the id the worker keys its state by, which the HTTP API checks after NFC too."""
    cid = "\ufb2c" * MAX_ID_CHARS
    assert len(unicodedata.normalize("NFC", cid)) > MAX_ID_CHARS
    result = outcome(INTERACTION, orjson.dumps(base(INTERACTION, customer_id=cid)))
    assert result == "bad_id", "accepted a customer_id longer than 128 characters"


# ---------------------------------------------------------------- Processor.decode


def processor() -> Processor:
    return Processor(SETTINGS, DEFAULT_CONFIG)


topics = st.sampled_from([*TOPIC_KINDS, SETTINGS.topics.rekey, "somebody-elses-topic"])
headers = st.lists(st.tuples(st.sampled_from([KIND_HEADER, "x-trace", ""]),
                             st.sampled_from([b"purchase", b"ticket", b"interaction", b"tick",
                                              b"\xff\xfe", b""])), max_size=3)


@st.composite
def records(draw: st.DrawFn) -> Record:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        value: bytes | None = draw(st.binary(max_size=512))
    elif choice == 1:
        value = None
    else:
        body = draw(event_like())
        body.pop("__kind")
        try:
            value = orjson.dumps(body)
        except TypeError:
            value = b"{}"
    key = draw(st.none() | st.binary(max_size=20) | st.just(b"c-1")
               | st.just("Jose\u0301".encode()))
    return Record(topic=draw(topics), partition=draw(st.integers(0, 3)),
                  offset=draw(st.integers(0, 2**40)), key=key, value=value,
                  timestamp_ms=draw(st.sampled_from([NOW, None, 0])),
                  headers=tuple(draw(headers)))


@FUZZ
@given(record=records())
def test_processor_decode_scores_rekeys_or_dead_letters_and_never_raises(record: Record) -> None:
    out = processor().decode(record, now_ms=NOW)
    if isinstance(out, Decoded):
        assert_accepted_by_the_rules(out.event, None)
        assert out.table_key == out.event.customer_id.encode("utf-8") == record.key
        return
    assert isinstance(out, Emit)
    if out.topic == SETTINGS.topics.rekey:
        # Valid, but keyed otherwise: one hop to the partition of its NFC customer id.
        assert out.value == record.value and out.key != record.key
        assert out.key is not None
        assert unicodedata.normalize("NFC", out.key.decode()) == out.key.decode()
        assert dict(out.headers)[KIND_HEADER].decode() in EVENT_KINDS
        return
    assert out.topic == SETTINGS.topics.dlq
    message = orjson.loads(out.value)
    assert message["reason"] in REJECT_REASONS
    assert (message["partition"], message["offset"]) == (record.partition, record.offset)
    assert message["error"]


# ---------------------------------------------------------------- logs


SENTINEL = "SENTINEL-payload-7f3a9c"


@pytest.mark.parametrize("value", [
    b"{" + SENTINEL.encode(),                                                 # not JSON
    orjson.dumps([SENTINEL]),                                                 # not an object
    orjson.dumps(base(PURCHASE, amount=SENTINEL)),                            # bad type
    orjson.dumps(base(PURCHASE, customer_id=SENTINEL + "\u200b")),            # bad id
    orjson.dumps(base(PURCHASE, type=SENTINEL)),                              # out of range
    orjson.dumps(base(PURCHASE, ts=SENTINEL)),                                # bad timestamp
    orjson.dumps(base(PURCHASE, order_id=None, note=SENTINEL)),               # missing field
    orjson.dumps(base(PURCHASE, filler=SENTINEL * 4000)),                     # oversized
    SENTINEL.encode() + b"\xff\xfe",                                          # not UTF-8
])
def test_log_records_carry_coordinates_and_never_the_payload(
        value: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    record = Record(topic=SETTINGS.topics.purchases, partition=3, offset=123_456,
                    key=SENTINEL.encode(), value=value, timestamp_ms=NOW)
    out = processor().decode(record, now_ms=NOW)
    assert isinstance(out, Emit) and out.topic == SETTINGS.topics.dlq
    reason_code = orjson.loads(out.value)["reason"]
    mine = [r for r in caplog.records if r.name.startswith(("streams", "scorers"))]
    assert mine, "a rejected record must be logged"
    for log_record in caplog.records:
        text = log_record.getMessage()
        assert SENTINEL not in text, text
        assert SENTINEL not in repr(log_record.args)
        assert log_record.exc_info is None and log_record.exc_text is None
    text = " ".join(r.getMessage() for r in mine)
    assert f"{SETTINGS.topics.purchases}[3]@123456" in text
    assert reason_code in text


def test_a_malformed_tick_is_logged_by_coordinates_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    record = Record(topic=SETTINGS.topics.rekey, partition=1, offset=9, key=None,
                    value=b'{"tick_ms": "' + SENTINEL.encode() + b'"}', timestamp_ms=NOW,
                    headers=((KIND_HEADER, b"tick"),))
    assert processor().decode_tick(record) is None
    text = " ".join(r.getMessage() for r in caplog.records)
    assert f"{SETTINGS.topics.rekey}[1]@9" in text
    assert SENTINEL not in text
