"""Event decoding and validation: every reason code, normalisation and time formats."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorers.events import (
    BAD_ID,
    BAD_TIMESTAMP,
    BAD_TYPE,
    FUTURE_TIMESTAMP,
    MISSING_FIELD,
    NOT_JSON,
    NOT_OBJECT,
    OUT_OF_RANGE,
    OVERSIZED,
    REJECT_REASONS,
    UNKNOWN_TOPIC,
    InteractionEvent,
    InvalidEvent,
    Limits,
    PurchaseEvent,
    TicketEvent,
    decode_event,
    is_invisible,
)
from scorers.timefmt import format_ms, parse_rfc3339_ms
from tests.support.strategies import decode, payloads

TS = 1_795_168_800_000  # 2026-11-20T10:00:00Z
TS_TEXT = "2026-11-20T10:00:00Z"

BASE: dict[str, dict[str, Any]] = {
    "purchase": {"event_id": "e1", "customer_id": "c1", "ts": TS, "order_id": "o1",
                 "amount": 120.5, "product_id": "p1"},
    "ticket": {"event_id": "e1", "customer_id": "c1", "ts": TS, "ticket_id": "t1",
               "status": "opened"},
    "interaction": {"event_id": "e1", "customer_id": "c1", "ts": TS, "channel": "call"},
}


def decoded(kind: str, reference_ms: int | None = None, **changes: Any) -> Any:
    payload = {**BASE[kind], **changes}
    payload = {k: v for k, v in payload.items() if v is not _DROP}
    return decode_event(kind, orjson.dumps(payload), reference_ms=reference_ms)


def rejected(kind: str, raw: bytes | str | None = None, reference_ms: int | None = None,
             limits: Limits | None = None, **changes: Any) -> InvalidEvent:
    if raw is None:
        payload = {k: v for k, v in {**BASE[kind], **changes}.items() if v is not _DROP}
        raw = orjson.dumps(payload)
    with pytest.raises(InvalidEvent) as info:
        if limits is None:
            decode_event(kind, raw, reference_ms=reference_ms)
        else:
            decode_event(kind, raw, reference_ms=reference_ms, limits=limits)
    assert info.value.reason in REJECT_REASONS
    assert str(info.value)  # a message a producer can act on
    return info.value


_DROP = object()


# --- valid events -----------------------------------------------------------------------------


def test_purchase_with_defaults() -> None:
    event = decoded("purchase")
    assert event == PurchaseEvent(
        event_id="e1", customer_id="c1", ts=TS, segment=None, order_id="o1", type="purchase",
        amount=120.5, currency="USD", product_id="p1", category=None, quantity=1,
    )


def test_purchase_with_every_field() -> None:
    event = decoded("purchase", type="refund", currency="EUR", category="hw", quantity=3,
                    segment="smb", amount=7)
    assert (event.type, event.currency, event.category, event.quantity, event.segment) == (
        "refund", "EUR", "hw", 3, "smb")
    assert event.amount == 7.0 and isinstance(event.amount, float)


def test_ticket_with_defaults_and_priority_code() -> None:
    event = decoded("ticket")
    assert isinstance(event, TicketEvent)
    assert event.priority == 1  # normal
    assert event.csat is None
    assert decoded("ticket", priority="urgent", status="resolved", csat=5).priority == 3
    assert decoded("ticket", priority="low").priority == 0


def test_interaction_with_every_field() -> None:
    event = decoded("interaction", direction="inbound", sentiment=-1, nps=0, csat=5,
                    product_id="feature-x")
    assert event == InteractionEvent(
        event_id="e1", customer_id="c1", ts=TS, segment=None, channel="call",
        direction="inbound", sentiment=-1.0, nps=0, csat=5, product_id="feature-x",
    )


def test_null_optional_fields_are_absent() -> None:
    event = decoded("interaction", direction=None, sentiment=None, nps=None, product_id=None,
                    segment=None)
    assert (event.direction, event.sentiment, event.nps, event.product_id, event.segment) == (
        None, None, None, None, None)


def test_unknown_extra_fields_are_ignored() -> None:
    plain = decoded("purchase")
    extra = decoded("purchase", note="hi", nested={"a": [1, 2]}, amount_usd=float(9))
    assert extra == plain


def test_str_payload_is_accepted_like_bytes() -> None:
    text = orjson.dumps(BASE["ticket"]).decode()
    assert decode_event("ticket", text, reference_ms=None) == decoded("ticket")


@given(payloads())
@settings(max_examples=200, deadline=None)
def test_generated_payloads_decode_to_their_fields(drawn: tuple[str, dict[str, Any]]) -> None:
    kind, payload = drawn
    event = decode(kind, payload, "e-x")
    assert event.kind == kind
    assert event.event_id == "e-x"
    assert event.customer_id == payload["customer_id"]
    ts = payload["ts"]
    assert event.ts == (ts if isinstance(ts, int) else parse_rfc3339_ms(ts))
    assert event.segment == payload.get("segment")


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00z",
        "2026-11-20t10:00:00Z",
        "2026-11-20T10:00:00+00:00",
        "2026-11-20T11:00:00+01:00",
        "2026-11-20T05:30:00-04:30",
        "2026-11-21T00:00:00+14:00",
        "2026-11-20T10:00:00.000Z",
    ],
)
def test_rfc3339_with_offsets_equals_epoch_ms(text: str) -> None:
    assert decoded("ticket", ts=text).ts == TS == decoded("ticket", ts=TS).ts


def test_fractional_seconds_are_kept_to_the_millisecond() -> None:
    assert decoded("ticket", ts="2026-11-20T10:00:00.5Z").ts == TS + 500
    assert decoded("ticket", ts="2026-11-20T10:00:00.123456Z").ts == TS + 123
    assert decoded("ticket", ts="2026-11-20T11:00:00.250+01:00").ts == TS + 250


@given(st.integers(31_536_000_000, 32_503_679_999_999))
@settings(max_examples=300, deadline=None)
def test_format_and_parse_round_trip(ms: int) -> None:
    text = format_ms(ms)
    assert text.endswith("Z")
    assert parse_rfc3339_ms(text) == ms
    assert decoded("interaction", ts=text).ts == ms


@given(st.integers(-10**15, 10**15))
@settings(max_examples=500, deadline=None)
def test_format_ms_agrees_with_datetime(ms: int) -> None:
    """The integer formatter renders every instant as datetime's strftime does."""
    try:
        moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    except (OverflowError, ValueError, OSError) as exc:
        with pytest.raises(type(exc)):
            format_ms(ms)
        return
    millis = f".{ms % 1000:03d}" if ms % 1000 else ""
    assert format_ms(ms) == f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}{millis}Z"


@pytest.mark.parametrize(
    "ts",
    [
        "2026-11-20T10:00:00",  # no offset
        "2026-11-20T10:00:00.000",  # no offset, long enough to parse
        "2026-11-20",
        "20 Nov 2026 10:00:00 GMT",
        "2026-11-20T25:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-11-20T10:00:00+25:00",
        "1795168800000",  # epoch ms as text
        "",
    ],
)
def test_bad_timestamp_text(ts: str) -> None:
    assert rejected("ticket", ts=ts).reason == BAD_TIMESTAMP


def test_epoch_seconds_instead_of_ms_is_a_bad_timestamp() -> None:
    error = rejected("ticket", ts=TS // 1000)
    assert error.reason == BAD_TIMESTAMP
    assert "epoch seconds" in str(error)


@pytest.mark.parametrize("ts", [0, -1, 31_535_999_999, 32_503_680_000_000, TS * 1000,
                                "1970-12-31T23:59:59Z", "3000-01-01T00:00:00Z"])
def test_timestamp_out_of_the_accepted_years(ts: int | str) -> None:
    assert rejected("ticket", ts=ts).reason == BAD_TIMESTAMP


def test_timestamp_bounds_are_inclusive_at_1971() -> None:
    assert decoded("ticket", ts=31_536_000_000).ts == 31_536_000_000
    assert decoded("ticket", ts="1971-01-01T00:00:00Z").ts == 31_536_000_000


@pytest.mark.parametrize("when", ["1997-01-01T00:00:00Z", "1998-06-30T12:00:00+02:00",
                                  852_076_800_000])
def test_real_histories_from_the_nineties_are_accepted(when: int | str) -> None:
    assert decoded("ticket", ts=when).ts < 946_684_800_000


@pytest.mark.parametrize("seconds", [852_076_800, 946_684_800, 1_795_168_800, 4_102_444_800])
def test_epoch_seconds_sent_as_milliseconds_are_still_caught(seconds: int) -> None:
    """1997, 2000, 2026 and 2100 in seconds, read as milliseconds, all fall in January 1970."""
    error = rejected("ticket", ts=seconds)
    assert error.reason == BAD_TIMESTAMP and "epoch seconds" in str(error)


@pytest.mark.parametrize("ts", [float(TS), 1.7e12, True, [TS], {"ms": TS}])
def test_timestamp_of_the_wrong_type(ts: Any) -> None:
    assert rejected("ticket", ts=ts).reason == BAD_TYPE


def test_future_timestamp_against_the_reference_time() -> None:
    skew = Limits().max_future_skew_ms
    assert decoded("ticket", reference_ms=TS - skew, ts=TS).ts == TS  # exactly at the limit
    assert decoded("ticket", reference_ms=TS + 10**9, ts=TS).ts == TS  # the past is fine
    error = rejected("ticket", reference_ms=TS - skew - 1, ts=TS)
    assert error.reason == FUTURE_TIMESTAMP
    assert "ahead" in str(error)
    # the same event without a reference time (rule off) is accepted
    assert decoded("ticket", reference_ms=None, ts=TS + 10**12).ts == TS + 10**12


def test_future_skew_limit_is_configurable() -> None:
    limits = Limits(max_future_skew_ms=0)
    raw = orjson.dumps({**BASE["ticket"], "ts": TS + 1})
    assert decode_event("ticket", raw, reference_ms=TS + 1, limits=limits).ts == TS + 1
    assert rejected("ticket", raw, reference_ms=TS, limits=limits).reason == FUTURE_TIMESTAMP


def test_future_rule_applies_to_rfc3339_too() -> None:
    error = rejected("ticket", reference_ms=TS - 3_600_000, ts="2026-11-20T11:00:00+01:00")
    assert error.reason == FUTURE_TIMESTAMP


# --- customer ids -----------------------------------------------------------------------------


def test_nfc_and_nfd_customer_ids_are_one_customer() -> None:
    nfc = unicodedata.normalize("NFC", "Zoë Ångström")
    nfd = unicodedata.normalize("NFD", "Zoë Ångström")
    assert nfc != nfd
    a = decoded("ticket", customer_id=nfc)
    b = decoded("ticket", customer_id=nfd)
    assert a.customer_id == b.customer_id == nfc


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
               min_size=1, max_size=40).filter(lambda s: not any(map(is_invisible, s))))
@settings(max_examples=200, deadline=None)
def test_customer_id_is_nfc_whatever_the_input_form(name: str) -> None:
    forms = {unicodedata.normalize(form, name) for form in ("NFC", "NFD")}
    ids = {decoded("ticket", customer_id=form).customer_id for form in forms}
    assert ids == {unicodedata.normalize("NFC", name)}


@pytest.mark.parametrize(
    "char",
    ["\u200b", "\u200d", "\ufeff", "\u2060", "\x00", "\x07", "\n", "\t", "\x1b", "\x7f",
     "\x85", "\u2028", "\u2029", "\u202e"],
)
def test_customer_id_with_control_or_invisible_characters(char: str) -> None:
    error = rejected("ticket", customer_id=f"acme{char}corp")
    assert error.reason == BAD_ID
    assert f"U+{ord(char):04X}" in str(error)


@pytest.mark.parametrize("field", ["event_id", "customer_id"])
def test_id_length_limits(field: str) -> None:
    assert getattr(decoded("ticket", **{field: "x" * 128}), field) == "x" * 128
    assert rejected("ticket", **{field: "x" * 129}).reason == BAD_ID
    assert rejected("ticket", **{field: ""}).reason == BAD_ID


@pytest.mark.parametrize(
    ("kind", "field"),
    [("purchase", "order_id"), ("purchase", "product_id"), ("ticket", "ticket_id")],
)
def test_kind_specific_id_rules(kind: str, field: str) -> None:
    assert rejected(kind, **{field: ""}).reason == BAD_ID
    assert rejected(kind, **{field: "y" * 129}).reason == BAD_ID
    assert rejected(kind, **{field: 12}).reason == BAD_TYPE
    assert rejected(kind, **{field: _DROP}).reason == MISSING_FIELD


def test_interaction_product_id_rules() -> None:
    assert rejected("interaction", product_id="").reason == BAD_ID
    assert rejected("interaction", product_id=5).reason == BAD_TYPE


# --- every reason code ------------------------------------------------------------------------


def test_oversized_payload_is_refused_before_parsing() -> None:
    limits = Limits(max_payload_bytes=100)
    # not even JSON: the size rule must win
    error = rejected("ticket", b"x" * 101, limits=limits)
    assert error.reason == OVERSIZED
    assert "101 bytes" in str(error)


def test_size_limit_boundary_and_utf8_length() -> None:
    payload = orjson.dumps({**BASE["ticket"], "pad": ""})
    exact = Limits(max_payload_bytes=len(payload))
    assert decode_event("ticket", payload, reference_ms=None, limits=exact).ticket_id == "t1"
    smaller = Limits(max_payload_bytes=len(payload) - 1)
    assert rejected("ticket", payload, limits=smaller).reason == OVERSIZED
    # a str payload is measured in UTF-8 bytes, not characters
    text = orjson.dumps({**BASE["ticket"], "pad": "é" * 50}).decode()
    in_bytes = Limits(max_payload_bytes=len(text.encode()) - 1)
    assert len(text) <= in_bytes.max_payload_bytes
    assert rejected("ticket", text, limits=in_bytes).reason == OVERSIZED


def test_default_limit_is_64_kib() -> None:
    big = orjson.dumps({**BASE["ticket"], "pad": "x" * 65536})
    assert rejected("ticket", big).reason == OVERSIZED


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"{'event_id': 'e1'}",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"\xff\xfe{}",
        b'{"customer_id": "\xc3"}',  # truncated UTF-8
        b'{"customer_id": "\\ud800"}',  # lone surrogate escape
        b'{"a": 1} {"b": 2}',  # two objects in one message
    ],
)
def test_not_json(raw: bytes) -> None:
    assert rejected("ticket", raw).reason == NOT_JSON


@pytest.mark.parametrize("field", ["amount", "sentiment"])
@pytest.mark.parametrize("literal", [b"1e999", b"-1e999"])
def test_overflowing_number_literal_is_rejected(field: str, literal: bytes) -> None:
    # orjson refuses numbers that overflow to infinity; whatever layer refuses, it never scores
    kind = "purchase" if field == "amount" else "interaction"
    body = orjson.dumps(BASE[kind])[:-1] + b',"' + field.encode() + b'":' + literal + b"}"
    assert rejected(kind, body).reason in (NOT_JSON, OUT_OF_RANGE)


def test_infinite_number_reaching_validation_is_out_of_range() -> None:
    # a parser that does produce inf (another JSON library upstream) still cannot pass it on
    from scorers.events import validate_event

    for field, kind in (("amount", "purchase"), ("sentiment", "interaction")):
        for value in (float("inf"), float("-inf"), float("nan")):
            with pytest.raises(InvalidEvent) as info:
                validate_event(kind, {**BASE[kind], field: value}, reference_ms=None)
            assert info.value.reason == OUT_OF_RANGE


def test_huge_integer_literal_is_not_an_epoch_ms() -> None:
    body = b'{"event_id":"e1","customer_id":"c1","ts":100000000000000000000000000,' \
           b'"ticket_id":"t1","status":"opened"}'
    assert rejected("ticket", body).reason in (NOT_JSON, BAD_TYPE, BAD_TIMESTAMP)


@pytest.mark.parametrize("raw", [b"[]", b'[{"event_id": "e1"}]', b'"text"', b"42", b"null",
                                 b"true"])
def test_not_object(raw: bytes) -> None:
    assert rejected("ticket", raw).reason == NOT_OBJECT


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("purchase", "event_id"),
        ("purchase", "customer_id"),
        ("purchase", "ts"),
        ("purchase", "order_id"),
        ("purchase", "amount"),
        ("purchase", "product_id"),
        ("ticket", "ticket_id"),
        ("ticket", "status"),
        ("interaction", "channel"),
    ],
)
def test_missing_required_field(kind: str, field: str) -> None:
    error = rejected(kind, **{field: _DROP})
    assert error.reason == MISSING_FIELD
    assert field in str(error)
    # an explicit null is missing too
    assert rejected(kind, **{field: None}).reason == MISSING_FIELD


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("purchase", {"event_id": 1}),
        ("purchase", {"customer_id": ["c1"]}),
        ("purchase", {"amount": "12.5"}),
        ("purchase", {"amount": True}),
        ("purchase", {"quantity": 1.5}),
        ("purchase", {"quantity": "2"}),
        ("purchase", {"type": 1}),
        ("purchase", {"category": 5}),
        ("purchase", {"segment": {"name": "smb"}}),
        ("ticket", {"status": ["opened"]}),
        ("ticket", {"priority": 3}),
        ("ticket", {"csat": "5"}),
        ("ticket", {"csat": 4.0}),
        ("ticket", {"csat": False}),
        ("interaction", {"channel": 2}),
        ("interaction", {"direction": True}),
        ("interaction", {"sentiment": "bad"}),
        ("interaction", {"nps": 9.5}),
        ("interaction", {"nps": True}),
    ],
)
def test_bad_type(kind: str, changes: dict[str, Any]) -> None:
    error = rejected(kind, **changes)
    assert error.reason == BAD_TYPE
    assert next(iter(changes)) in str(error)


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("purchase", {"amount": -0.01}),
        ("purchase", {"amount": 1e13}),
        ("purchase", {"quantity": 0}),
        ("purchase", {"quantity": 1_000_001}),
        ("purchase", {"type": "exchange"}),
        ("purchase", {"currency": "usd"}),
        ("purchase", {"currency": "DOLLARS"}),
        ("purchase", {"currency": 840}),
        ("purchase", {"currency": "ÉUR"}),
        ("purchase", {"category": "c" * 257}),
        ("purchase", {"segment": "s" * 257}),
        ("ticket", {"status": "done"}),
        ("ticket", {"priority": "critical"}),
        ("ticket", {"csat": 0}),
        ("ticket", {"csat": 6}),
        ("interaction", {"channel": "fax"}),
        ("interaction", {"direction": "sideways"}),
        ("interaction", {"sentiment": 1.0001}),
        ("interaction", {"sentiment": -2}),
        ("interaction", {"nps": 11}),
        ("interaction", {"nps": -1}),
        ("interaction", {"csat": 0}),
    ],
)
def test_out_of_range(kind: str, changes: dict[str, Any]) -> None:
    assert rejected(kind, **changes).reason == OUT_OF_RANGE


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("purchase", {"amount": 0}),
        ("purchase", {"amount": 1e12}),
        ("purchase", {"quantity": 1_000_000}),
        ("purchase", {"category": "c" * 256}),
        ("interaction", {"sentiment": 1}),
        ("interaction", {"sentiment": -1.0}),
        ("interaction", {"nps": 10}),
        ("interaction", {"csat": 1}),
    ],
)
def test_range_edges_are_accepted(kind: str, changes: dict[str, Any]) -> None:
    decoded(kind, **changes)


def test_unknown_kind() -> None:
    error = rejected("refunds", orjson.dumps(BASE["ticket"]))
    assert error.reason == UNKNOWN_TOPIC
    assert "refunds" in str(error)


def test_the_same_payload_is_judged_by_its_kind() -> None:
    # a valid ticket is not a valid purchase: its required fields are missing
    assert rejected("purchase", orjson.dumps(BASE["ticket"])).reason == MISSING_FIELD
