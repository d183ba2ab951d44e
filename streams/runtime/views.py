"""HTTP views on the worker's web server: health, one customer, the at-risk list (history,
population and search: :mod:`streams.runtime.history_views`).

``GET /customers/{id}`` is answered from the state table by the worker that owns the id's
partition: any worker receiving the request forwards it there. ``GET /at-risk`` reads the
Redis read model. Errors are JSON ``{"error": ..., "detail": ...}`` with a fitting status.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from faust.web.exceptions import ServiceUnavailable
from redis.exceptions import RedisError

from scorers.config import ScoringConfig
from scorers.events import InvalidEvent, normalise_customer_id
from scorers.model import evaluate
from scorers.scorer import score_message
from scorers.state import CustomerState
from streams.runtime.history_views import at_risk_trends, register_history_views
from streams.runtime.page import register_page
from streams.runtime.projector import customer_key, redis_client
from streams.runtime.query import BadParameter, int_parameter
from streams.settings import Settings

log = logging.getLogger(__name__)

MAX_AT_RISK = 1000
DEFAULT_AT_RISK = 50


def error(view: View, status: int, code: str, detail: str) -> Response:
    return view.json({"error": code, "detail": detail}, status=status)


def customer_view(state: CustomerState, cfg: ScoringConfig) -> dict[str, Any]:
    """What ``/customers/{id}`` returns: the latest score message plus the alert state."""
    evaluation = evaluate(state, state.ref_ts, cfg)
    score = state.score if state.score is not None else round(evaluation.score, 1)
    body = score_message(state, evaluation, score, None, "event", cfg)
    del body["previous_score"], body["reason"], body["change"]
    body["below_threshold"] = state.below
    body["open_tickets"] = len(state.open_tickets)
    return body


def decode_at_risk(rows: list[tuple[bytes, float]],
                   details: list[dict[bytes, bytes]]) -> list[dict[str, Any]]:
    """Join the at-risk sorted set with each customer's hash."""
    out: list[dict[str, Any]] = []
    for (member, score), fields in zip(rows, details, strict=True):
        item: dict[str, Any] = {"customer_id": member.decode(), "score": score}
        text = {k.decode(): v.decode() for k, v in fields.items()}
        item["band"] = text.get("band")
        item["as_of"] = text.get("as_of")
        item["previous_score"] = float(text["previous_score"]) if text.get(
            "previous_score") else None
        item["drivers"] = orjson.loads(text["drivers"]) if text.get("drivers") else []
        out.append(item)
    return out


def register_views(app: faust.App, settings: Settings, cfg: ScoringConfig,
                   table: Any) -> None:
    """Add relscore's pages to ``app``'s web server."""
    redis_holder: dict[str, Any] = {}

    def redis() -> Any:
        if "client" not in redis_holder:
            redis_holder["client"] = redis_client(settings)
        return redis_holder["client"]

    owners = register_history_views(app, settings, cfg.alerts.threshold, redis, error)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok", "app": settings.worker.app_id})

    @app.page("/customers/{customer_id}")
    class Customer(View):
        async def get(self, request: Request, customer_id: str) -> Response:
            try:
                cid = normalise_customer_id(customer_id)
            except InvalidEvent as exc:
                return error(self, 400, "bad_customer_id", str(exc))
            if not 1 <= len(cid) <= 128:
                return error(self, 400, "bad_customer_id", "customer ids are 1-128 characters")
            try:
                return await app.router.route_req(table.name, cid, self.web, request)
            except SameNode:
                pass
            except ServiceUnavailable:
                return error(self, 503, "rebalancing",
                             "partition ownership is changing; retry in a few seconds")
            raw = table.get(cid.encode("utf-8"))
            if raw is None:
                return error(self, 404, "unknown_customer",
                             f"no events seen for customer {cid!r}")
            return self.json(customer_view(CustomerState.from_bytes(raw), cfg))

    @app.page("/at-risk")
    class AtRisk(View):
        async def get(self, request: Request) -> Response:
            try:
                limit = int_parameter(request.query, "limit", DEFAULT_AT_RISK, 1, MAX_AT_RISK)
            except BadParameter as exc:
                return error(self, 400, exc.code, str(exc))
            prefix = settings.redis.prefix
            try:
                client = redis()
                rows = await client.zrange(f"{prefix}at_risk", 0, limit - 1, withscores=True)
                async with client.pipeline(transaction=False) as pipe:
                    for member, _ in rows:
                        pipe.hgetall(customer_key(prefix, member.decode()))
                    details = await pipe.execute()
                customers = decode_at_risk(rows, details)
                await at_risk_trends(client, prefix, customers, details, owners,
                                     cfg.alerts.threshold)
            except (RedisError, OSError) as exc:
                log.warning("at-risk query failed: %s", exc.__class__.__name__)
                return error(self, 503, "read_model_unavailable",
                             "the Redis read model is not reachable; scores are still on the "
                             f"{settings.topics.scores} topic")
            return self.json({"threshold": cfg.alerts.threshold, "customers": customers})

    del Health, Customer, AtRisk
    register_page(app, settings)
