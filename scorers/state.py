"""A customer's compact scoring state and its byte encoding.

Every decayed sum is valued at ``ref_ts``, the customer's clock (the latest event time seen, or
the time of the latest decay re-score). Advancing the clock multiplies each sum by
``2 ** (-dt / half_life)``; a late event adds ``x * 2 ** (-(ref_ts - t) / half_life)`` without
moving the clock, so the sums do not depend on arrival order.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

# Format 2 keeps event-id digests instead of the ids (format 1, still read); format 3 adds
# s_abandoned at the end (format 2 rows read with it at 0); format 4 adds lost at the end
# (older rows read without it: their next score message has an empty change).
STATE_FORMAT = 4
READ_FORMATS = (1, 2, 3, STATE_FORMAT)
# An event id is remembered as the base64 text of its 9-byte BLAKE2b digest: exactly 12
# characters, whatever the id's length. With at most a few hundred digests per customer, the
# chance that a new id matches a remembered one by accident is below 1e-19 per event.
ID_DIGEST_CHARS = 12


def id_digest(event_id: str) -> str:
    """The fixed-size text under which ``event_id`` is remembered for de-duplication.

    Examples:

    >>> id_digest("evt-0001")
    '5pSYsBkkhuuJ'
    >>> len(id_digest("evt-" + "x" * 500)) == ID_DIGEST_CHARS  # whatever the id's length
    True
    """
    raw = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=9).digest()
    return base64.b64encode(raw).decode("ascii")


def decay_factor(elapsed_ms: float, half_life_ms: float) -> float:
    """The weight left after ``elapsed_ms`` for a half-life of ``half_life_ms`` (1 when <= 0).

    Examples:

    >>> from scorers.config import DAY_MS
    >>> decay_factor(30 * DAY_MS, half_life_ms=30 * DAY_MS)  # one half-life: half is left
    0.5
    >>> decay_factor(60 * DAY_MS, half_life_ms=30 * DAY_MS)
    0.25
    >>> decay_factor(-5_000, half_life_ms=30 * DAY_MS)  # no time has passed
    1.0
    """
    if elapsed_ms <= 0:
        return 1.0
    return float(2.0 ** (-elapsed_ms / half_life_ms))


@dataclass(slots=True)
class CustomerState:
    """Everything the model keeps about one customer (a few hundred bytes encoded).

    :func:`scorers.scorer.apply_event` creates and updates it; a fresh one needs only the
    customer id and its first event time (epoch ms).

    Examples:

    >>> state = CustomerState(customer_id="c-42", first_ts=1795168800000, ref_ts=1795168800000)
    >>> state.events_seen, state.score, state.products
    (0, None, {})
    >>> CustomerState.from_bytes(state.to_bytes()) == state
    True
    """

    customer_id: str
    first_ts: int
    ref_ts: int
    segment: str | None = None
    segment_ts: int = 0
    events_seen: int = 0
    evidence: int = 0
    # digests (id_digest) of the latest event ids, oldest first, ID_DIGEST_CHARS each
    recent_ids: str = ""
    # purchases (purchase half-life)
    p_count: float = 0.0
    p_value: float = 0.0
    p_returned: float = 0.0
    first_purchase_ts: int | None = None
    last_purchase_ts: int | None = None
    # revenue (short and long half-lives), net of returns
    rev_short: float = 0.0
    rev_long: float = 0.0
    # depth: product or service -> last time seen
    products: dict[str, int] = field(default_factory=dict)
    # support: ticket id -> [priority code, opened ts]; closed: ticket id -> [priority, closed ts]
    open_tickets: dict[str, list[int]] = field(default_factory=dict)
    closed_tickets: dict[str, list[int]] = field(default_factory=dict)
    last_ticket_ts: int | None = None
    s_escalations: float = 0.0
    s_reopens: float = 0.0
    s_late: float = 0.0
    s_csat_sum: float = 0.0
    s_csat_n: float = 0.0
    # engagement (engagement half-life)
    e_touch: float = 0.0
    e_sent_sum: float = 0.0
    e_sent_w: float = 0.0
    last_touch_ts: int | None = None
    # satisfaction (satisfaction half-life)
    nps_sum: float = 0.0
    nps_n: float = 0.0
    csat_sum: float = 0.0
    csat_n: float = 0.0
    last_survey_ts: int | None = None
    # output memory: last published score and components, alert state
    score: float | None = None
    components: dict[str, float | None] | None = None
    below: bool = False
    drop_window: list[list[float]] = field(default_factory=list)
    # event time at which the score must be looked at again if no event comes (see schedule)
    next_due: int | None = None
    # support (support half-life), last so that format-2 rows still decode: how far past their
    # SLAs the tickets were that were closed without being resolved (see overdue_load)
    s_abandoned: float = 0.0
    # what each component cost the last published score, in COMPONENTS order (scorers.change)
    lost: list[float | None] | None = None

    def remembers(self, digest: str) -> bool:
        """True when an event id with this :func:`id_digest` was applied recently.

        Examples:

        >>> state = CustomerState(customer_id="c-42", first_ts=0, ref_ts=0)
        >>> state.remember(id_digest("evt-1"), limit=128)
        >>> state.remembers(id_digest("evt-1")), state.remembers(id_digest("evt-2"))
        (True, False)
        """
        start = self.recent_ids.find(digest)
        while start != -1:
            if start % ID_DIGEST_CHARS == 0:
                return True
            start = self.recent_ids.find(digest, start + 1)
        return False

    def remember(self, digest: str, limit: int) -> None:
        """Remember ``digest``, keeping the latest ``limit`` digests.

        Examples:

        >>> state = CustomerState(customer_id="c-42", first_ts=0, ref_ts=0)
        >>> for event_id in ("evt-1", "evt-2", "evt-3"):
        ...     state.remember(id_digest(event_id), limit=2)
        >>> state.remembers(id_digest("evt-1")), state.remembers(id_digest("evt-3"))
        (False, True)
        >>> len(state.recent_ids) == 2 * ID_DIGEST_CHARS
        True
        """
        kept = max(0, limit) * ID_DIGEST_CHARS
        recent = self.recent_ids + digest
        self.recent_ids = recent[len(recent) - kept:] if len(recent) > kept else recent

    def copy(self) -> CustomerState:
        """A copy whose containers can be changed without touching this state.

        Examples:

        >>> state = CustomerState(customer_id="c-42", first_ts=0, ref_ts=0, products={"crm": 0})
        >>> clone = state.copy()
        >>> clone.products["billing"] = 5
        >>> sorted(state.products), sorted(clone.products)
        (['crm'], ['billing', 'crm'])
        """
        clone = CustomerState(**{name: getattr(self, name) for name in _FIELD_NAMES})
        clone.products = dict(self.products)
        clone.open_tickets = {k: list(v) for k, v in self.open_tickets.items()}
        clone.closed_tickets = {k: list(v) for k, v in self.closed_tickets.items()}
        clone.components = None if self.components is None else dict(self.components)
        clone.drop_window = [list(point) for point in self.drop_window]
        clone.lost = None if self.lost is None else list(self.lost)
        return clone

    def to_bytes(self) -> bytes:
        """Encode for the state table (a JSON array in field order, prefixed by the format).

        Examples:

        >>> state = CustomerState(customer_id="c-42", first_ts=1795168800000, ref_ts=1795168800000)
        >>> state.to_bytes()[:38]
        b'[4,"c-42",1795168800000,1795168800000,'
        """
        # Every field by name, in _FIELD_NAMES' order (a test checks it): compiled, these are
        # native reads, where getattr by name was a third of the encoding's cost.
        encoded = orjson.dumps([
            STATE_FORMAT, self.customer_id, self.first_ts, self.ref_ts, self.segment,
            self.segment_ts, self.events_seen, self.evidence, self.recent_ids, self.p_count,
            self.p_value, self.p_returned, self.first_purchase_ts, self.last_purchase_ts,
            self.rev_short, self.rev_long, self.products, self.open_tickets,
            self.closed_tickets, self.last_ticket_ts, self.s_escalations, self.s_reopens,
            self.s_late, self.s_csat_sum, self.s_csat_n, self.e_touch, self.e_sent_sum,
            self.e_sent_w, self.last_touch_ts, self.nps_sum, self.nps_n, self.csat_sum,
            self.csat_n, self.last_survey_ts, self.score, self.components, self.below,
            self.drop_window, self.next_due, self.s_abandoned, self.lost,
        ])
        # orjson's bytes keep their (much larger) allocation behind them; a table holding
        # millions of rows must keep right-sized copies.
        return memoryview(encoded).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        """Decode what :meth:`to_bytes` wrote.

        Examples:

        >>> state = CustomerState(customer_id="c-42", first_ts=0, ref_ts=0, evidence=3)
        >>> CustomerState.from_bytes(state.to_bytes()).evidence
        3
        >>> CustomerState.from_bytes(b"[9]")
        Traceback (most recent call last):
          ...
        ValueError: unknown customer state format [9]
        """
        values: list[Any] = orjson.loads(data)
        if not values or values[0] not in READ_FORMATS:
            raise ValueError(f"unknown customer state format {values[:1]!r}")
        if values[0] == 1:  # event ids as such: remember their digests
            values[_RECENT_IDS] = "".join(id_digest(event_id) for event_id in values[_RECENT_IDS])
        return cls(*values[1:])


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CustomerState))
_RECENT_IDS = 1 + _FIELD_NAMES.index("recent_ids")  # its place in an encoded row
# Places in an encoded row (every format keeps them: formats 3 and 4 only append a field).
_SCORE = 1 + _FIELD_NAMES.index("score")
_NEXT_DUE = 1 + _FIELD_NAMES.index("next_due")
_REF_TS = 1 + _FIELD_NAMES.index("ref_ts")


def schedule_fields(data: bytes) -> tuple[float | None, int | None, int]:
    """The score, due time and reference time of an encoded state, without building it: what
    a worker needs of each row to rebuild its schedule and band counts after recovery.

    Examples:

    >>> state = CustomerState(customer_id="c-42", first_ts=0, ref_ts=7, evidence=3)
    >>> state.score, state.next_due = 41.5, 99
    >>> schedule_fields(state.to_bytes())
    (41.5, 99, 7)
    >>> schedule_fields(b"[9]")
    Traceback (most recent call last):
      ...
    ValueError: unknown customer state format [9]
    """
    values: list[Any] = orjson.loads(data)
    if not values or values[0] not in READ_FORMATS:
        raise ValueError(f"unknown customer state format {values[:1]!r}")
    return values[_SCORE], values[_NEXT_DUE], values[_REF_TS]
