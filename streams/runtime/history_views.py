"""HTTP views on the read model's history: a customer's history, the population, search,
and the trend columns of ``/at-risk``.

All answer from Redis (:mod:`streams.runtime.history`, :mod:`streams.runtime.population`);
owners come from the owners topic, followed by every worker
(:class:`~streams.runtime.owner_directory.OwnerDirectory`). Query parameters are checked and
refused with a 400 JSON error naming the allowed range.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import faust
import orjson
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from scorers.events import InvalidEvent, normalise_customer_id
from scorers.model import BAND_NAMES
from scorers.timefmt import parse_rfc3339_ms
from streams.runtime.history import (
    DAY_MS,
    HISTORY_DAYS,
    alerts_key,
    day_text,
    decode_alert,
    decode_point,
    history_key,
)
from streams.runtime.owner_directory import OwnerDirectory
from streams.runtime.population import (
    decode_day,
    histogram,
    histogram_ranges,
    population_key,
)
from streams.runtime.projector import customer_key, ids_key
from streams.runtime.query import BadParameter, int_parameter
from streams.runtime.trend import below_since, change_over
from streams.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DAYS = 90
SPARK_DAYS = 90
RECENT_ALERTS = 20  # the alerts /at-risk looks at for below_since
MAX_SEARCH = 100
DEFAULT_SEARCH = 20
MAX_QUERY_CHARS = 128
RETRY_S = 2.0


def window(elements: list[bytes], days: int) -> list[bytes]:
    """The elements of the ``days`` days up to the latest one (event time).

    >>> els = [b"00001" + b"0" * 13, b"00005" + b"0" * 13, b"00007" + b"0" * 13]
    >>> [e[:5] for e in window(els, 3)], [e[:5] for e in window(els, 7)]
    ([b'00005', b'00007'], [b'00001', b'00005', b'00007'])
    """
    if not elements:
        return []
    first = int(elements[-1][:5]) - days + 1
    return [e for e in elements if int(e[:5]) >= first]


def text_fields(fields: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


def json_field(fields: Mapping[str, str], name: str) -> Any:
    """A JSON field of a customer hash; None when absent or empty.

    >>> json_field({"change": "[]"}, "change"), json_field({}, "change")
    ([], None)
    """
    text = fields.get(name)
    return orjson.loads(text) if text else None


def trend_columns(fields: Mapping[str, str], elements: list[bytes], complete: bool,
                  alerts: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """What ``/at-risk`` adds from the history: spark, change_7d/30d, below_since.

    >>> els = [f"{d:05d}{d * DAY_MS:013d}[{s},\\"x\\",{{}}]".encode()
    ...        for d, s in ((1, 70.0), (5, 58.0), (9, 50.0))]
    >>> cols = trend_columns({"as_of": "1970-01-10T00:00:00Z", "score": "50.0"}, els, True,
    ...                      [], 60.0)
    >>> cols["change_7d"], cols["change_30d"], cols["below_since"], len(cols["spark"])
    (-20.0, None, '1970-01-06T00:00:00Z', 3)
    """
    points = [decode_point(e) for e in window(elements, SPARK_DAYS)]
    spark = [(parse_rfc3339_ms(p["as_of"]), float(p["score"])) for p in points]
    out: dict[str, Any] = {"spark": [[p["as_of"], p["score"]] for p in points],
                           "change_7d": None, "change_30d": None, "below_since": None}
    if fields.get("as_of") and fields.get("score"):
        now_ms, now = parse_rfc3339_ms(fields["as_of"]), float(fields["score"])
        out["change_7d"] = change_over(spark, now_ms, now, 7)
        out["change_30d"] = change_over(spark, now_ms, now, 30)
    out["below_since"] = below_since(spark, threshold, alerts,
                                     complete and len(spark) == len(elements))
    return out


async def at_risk_trends(client: Any, prefix: str, items: list[dict[str, Any]],
                         hashes: list[Mapping[bytes, bytes]], owners: OwnerDirectory,
                         threshold: float) -> None:
    """Add segment, owner, spark, change_7d, change_30d, below_since and change to the
    ``/at-risk`` rows, whose customer hashes ``/at-risk`` has read already (Redis errors
    propagate)."""
    async with client.pipeline(transaction=False) as pipe:
        for item in items:
            cid = item["customer_id"]
            pipe.lrange(history_key(prefix, cid), -SPARK_DAYS, -1)
            pipe.llen(history_key(prefix, cid))
            pipe.zrange(alerts_key(prefix, cid), -RECENT_ALERTS, -1)
        replies = await pipe.execute()
    for n, (item, raw) in enumerate(zip(items, hashes, strict=True)):
        elements, length, alerts = replies[3 * n: 3 * n + 3]
        fields = text_fields(raw)
        owner = owners.get(item["customer_id"])
        item["segment"] = fields.get("segment") or None
        item["owner"] = owner.owner if owner else None
        item.update(trend_columns(fields, elements, len(elements) == length,
                                  [decode_alert(a) for a in alerts], threshold))
        item["change"] = json_field(fields, "change")


def register_history_views(app: faust.App, settings: Settings, threshold: float,
                           redis: Callable[[], Any],
                           error: Callable[[View, int, str, str], Response]) -> OwnerDirectory:
    """Add the history, population and search endpoints; returns the owner directory the
    worker follows (``/at-risk`` uses it too)."""
    prefix = settings.redis.prefix
    owners = OwnerDirectory()

    def unavailable(view: View, what: str, exc: Exception) -> Response:
        log.warning("%s query failed: %s", what, exc.__class__.__name__)
        return error(view, 503, "read_model_unavailable",
                     "the Redis read model is not reachable; scores are still on the "
                     f"{settings.topics.scores} topic")

    @app.page("/customers/{customer_id}/history")
    class History(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            try:
                cid = normalise_customer_id(customer_id)
                if not 1 <= len(cid) <= 128:
                    raise BadParameter("bad_customer_id", "customer ids are 1-128 characters")
                days = int_parameter(request.query, "days", DEFAULT_DAYS, 1, HISTORY_DAYS)
            except InvalidEvent as exc:
                return error(self, 400, "bad_customer_id", str(exc))
            except BadParameter as exc:
                return error(self, 400, exc.code, str(exc))
            try:
                client = redis()
                async with client.pipeline(transaction=False) as pipe:
                    pipe.exists(customer_key(prefix, cid))
                    pipe.lrange(history_key(prefix, cid), -days, -1)
                    known, elements = await pipe.execute()
                points = window(elements, days)
                alerts: list[bytes] = []
                if points:
                    start = (int(points[-1][:5]) - days + 1) * DAY_MS
                    alerts = await client.zrangebyscore(alerts_key(prefix, cid), start, "+inf")
            except (RedisError, OSError) as exc:
                return unavailable(self, "history", exc)
            if not known and not points:
                return error(self, 404, "unknown_customer",
                             f"no score for customer {cid!r} in the read model")
            return self.json({"customer_id": cid, "days": days,
                              "points": [decode_point(e) for e in points],
                              "alerts": [decode_alert(a) for a in alerts]})

    @app.page("/population")
    class Population(View):
        async def get(self, request: Request) -> Response:
            try:
                days = int_parameter(request.query, "days", DEFAULT_DAYS, 1, HISTORY_DAYS)
            except BadParameter as exc:
                return error(self, 400, exc.code, str(exc))
            try:
                client = redis()
                newest = await client.zrange(population_key(prefix), -1, -1)
                members: list[bytes] = []
                if newest:
                    last = decode_day(newest[0])[0]
                    members = await client.zrangebyscore(population_key(prefix),
                                                         last - days + 1, last)
                async with client.pipeline(transaction=False) as pipe:
                    for low, high, _, _ in histogram_ranges():
                        pipe.zcount(f"{prefix}scores", low, high)
                    counts = await pipe.execute()
            except (RedisError, OSError) as exc:
                return unavailable(self, "population", exc)
            rows = [decode_day(m) for m in members]
            return self.json({"threshold": threshold, "bands": list(BAND_NAMES),
                              "days": [{"day": day_text(day), "counts": counts_by_band}
                                       for day, counts_by_band in rows],
                              "histogram": histogram(counts)})

    @app.page("/search")
    class Search(View):
        async def get(self, request: Request) -> Response:
            query = request.query.get("q", "")
            try:
                limit = int_parameter(request.query, "limit", DEFAULT_SEARCH, 1, MAX_SEARCH)
                if len(query) > MAX_QUERY_CHARS:
                    raise BadParameter("bad_q", f"q must be 0..{MAX_QUERY_CHARS} characters, "
                                       f"got {len(query)}")
            except BadParameter as exc:
                return error(self, 400, exc.code, str(exc))
            low = b"[" + query.encode()
            try:
                client = redis()
                ids = await client.zrangebylex(ids_key(prefix), low, low + b"\xff",
                                               start=0, num=limit)
                async with client.pipeline(transaction=False) as pipe:
                    for member in ids:
                        pipe.hmget(customer_key(prefix, member.decode()),
                                   ["score", "band", "segment", "as_of"])
                    rows = await pipe.execute()
            except (RedisError, OSError) as exc:
                return unavailable(self, "search", exc)
            found = []
            for member, (score, band, segment, as_of) in zip(ids, rows, strict=True):
                cid = member.decode()
                owner = owners.get(cid)
                found.append({"customer_id": cid,
                              "score": float(score) if score else None,
                              "band": band.decode() if band else None,
                              "segment": segment.decode() if segment else None,
                              "owner": owner.owner if owner else None,
                              "as_of": as_of.decode() if as_of else None})
            return self.json({"customers": found})

    @app.task  # type: ignore[untyped-decorator]
    async def follow_owners() -> None:
        while True:
            try:
                await owners.follow(settings)
            except (KafkaError, LookupError) as exc:
                log.warning("owners feed: %s; retrying", exc.__class__.__name__)
            await asyncio.sleep(RETRY_S)

    del History, Population, Search, follow_owners
    return owners
