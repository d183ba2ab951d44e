"""The peer for bench_pipeline.py: a plain quix-streams app doing what relscore's worker does.

    python bench/quix_peer.py --broker HOST:PORT --group G --sink TOPIC --state-dir DIR TOPIC...

It reads the input topics from the start as one stream (``StreamingDataFrame.concat``), keeps
per customer a row of decayed aggregates (about 20 floats: purchases, returns, engagement,
sentiment, NPS, CSAT, open tickets and their load, recency times) in its RocksDB state with a
changelog topic, and produces one score per event to the sink topic: the rolling score an
engineer would write on quix-streams in an afternoon, with at-least-once processing. It is
what issue #12 measures relscore against; it needs ``pip install -e '.[bench]'``.

Not a model: no SLAs, no drivers, no alerts, no due-time re-scores, no dead-letter topic.
A message it cannot decode is scored as nothing and skipped.
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from typing import Any

import orjson

DAY_MS = 86_400_000
HALF_LIFE_MS = {"purchase": 30 * DAY_MS, "support": 7 * DAY_MS, "engagement": 14 * DAY_MS,
                "satisfaction": 14 * DAY_MS}
TICKET_WEIGHT = {"low": 0.5, "normal": 1.0, "high": 2.0, "urgent": 4.0}
CHANNEL_WEIGHT = {"meeting": 3.0, "call": 2.0, "webinar": 1.5, "email": 1.0, "chat": 1.0,
                  "survey": 1.0, "login": 0.5, "feature_use": 0.5}
# The row: clock, then the decayed sums, then plain values.
(REF, P_COUNT, P_VALUE, P_RETURNED, LAST_PURCHASE, E_TOUCH, E_SENT, E_SENT_W, LAST_TOUCH,
 NPS_SUM, NPS_N, CSAT_SUM, CSAT_N, OPEN, OPEN_LOAD, LATE, ESCALATIONS, FIRST) = range(18)
ROW = 18


def _ts_ms(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(datetime.fromisoformat(str(value)).timestamp() * 1000)


def _decay(row: list[float], ts: int) -> float:
    """Advance the row's clock to ``ts`` (never back); returns the weight of an event at ts."""
    dt = ts - row[REF]
    if dt <= 0:
        return 2.0 ** (dt / HALF_LIFE_MS["purchase"])
    fp = 2.0 ** (-dt / HALF_LIFE_MS["purchase"])
    fs = 2.0 ** (-dt / HALF_LIFE_MS["support"])
    fe = 2.0 ** (-dt / HALF_LIFE_MS["engagement"])
    fq = 2.0 ** (-dt / HALF_LIFE_MS["satisfaction"])
    row[P_COUNT] *= fp
    row[P_VALUE] *= fp
    row[P_RETURNED] *= fp
    row[E_TOUCH] *= fe
    row[E_SENT] *= fe
    row[E_SENT_W] *= fe
    row[NPS_SUM] *= fq
    row[NPS_N] *= fq
    row[CSAT_SUM] *= fq
    row[CSAT_N] *= fq
    row[LATE] *= fs
    row[ESCALATIONS] *= fs
    row[REF] = ts
    return 1.0


def _recency(since_ms: float, grace_days: float, zero_days: float) -> float:
    if since_ms <= grace_days * DAY_MS:
        return 100.0
    return 100.0 * math.exp(-(since_ms - grace_days * DAY_MS) / ((zero_days - grace_days) * DAY_MS))


def update(row: list[float], event: dict[str, Any]) -> float:
    """Apply one event to the row and return the customer's score."""
    ts = _ts_ms(event["ts"])
    if not row[FIRST]:
        row[FIRST] = row[REF] = ts
    w = _decay(row, ts)
    if "order_id" in event:
        amount = float(event.get("amount", 0.0))
        if event.get("type", "purchase") == "purchase":
            row[P_COUNT] += w
            row[P_VALUE] += amount * w
            row[LAST_PURCHASE] = max(row[LAST_PURCHASE], ts)
        else:
            row[P_RETURNED] += amount * w
    elif "ticket_id" in event:
        weight = TICKET_WEIGHT.get(str(event.get("priority")), 1.0)
        status = event.get("status")
        if status == "opened":
            row[OPEN] += 1
            row[OPEN_LOAD] += weight
        elif status in ("resolved", "closed") and row[OPEN] > 0:
            row[OPEN] -= 1
            row[OPEN_LOAD] = max(0.0, row[OPEN_LOAD] - weight)
            row[LATE] += w
        elif status == "escalated":
            row[ESCALATIONS] += w
    else:
        weight = CHANNEL_WEIGHT.get(str(event.get("channel")), 1.0)
        row[E_TOUCH] += weight * w
        row[LAST_TOUCH] = max(row[LAST_TOUCH], ts)
        if event.get("sentiment") is not None:
            row[E_SENT] += float(event["sentiment"]) * weight * w
            row[E_SENT_W] += weight * w
        if event.get("nps") is not None:
            row[NPS_SUM] += float(event["nps"]) * w
            row[NPS_N] += w
        if event.get("csat") is not None:
            row[CSAT_SUM] += float(event["csat"]) * w
            row[CSAT_N] += w
    return score(row, ts)


def score(row: list[float], at: int) -> float:
    parts: list[tuple[float, float]] = []
    if row[LAST_PURCHASE]:
        frequency = min(1.0, row[P_COUNT] / 2.0)
        returns = 1.0 - min(1.0, row[P_RETURNED] / row[P_VALUE] / 0.5) if row[P_VALUE] else 0.0
        value = (45 * frequency + 0.35 * _recency(at - row[LAST_PURCHASE], 30, 120)
                 + 20 * returns)
        parts.append((0.25, value))
    if row[OPEN] or row[LATE] or row[ESCALATIONS]:
        load = row[OPEN_LOAD] + 0.25 * row[LATE] + 0.5 * row[ESCALATIONS]
        parts.append((0.20, 100.0 / (1.0 + load / 4.0)))
    if row[LAST_TOUCH]:
        volume = min(1.0, row[E_TOUCH] / 8.0)
        sentiment = 50.0 * (1.0 + row[E_SENT] / row[E_SENT_W]) if row[E_SENT_W] else 50.0
        value = (45 * volume + 0.35 * _recency(at - row[LAST_TOUCH], 14, 60)
                 + 0.20 * sentiment)
        parts.append((0.20, value))
    if row[NPS_N] or row[CSAT_N]:
        nps = row[NPS_SUM] / row[NPS_N] * 10.0 if row[NPS_N] else None
        csat = (row[CSAT_SUM] / row[CSAT_N] - 1.0) * 25.0 if row[CSAT_N] else None
        both = [v for v in (nps, csat) if v is not None]
        parts.append((0.15, sum(both) / len(both)))
    total = sum(weight for weight, _ in parts)
    return sum(weight * value for weight, value in parts) / total if total else 65.0


def main() -> None:
    from quixstreams import Application, State

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("topics", nargs="+")
    args = parser.parse_args()

    app = Application(broker_address=args.broker, consumer_group=args.group,
                      auto_offset_reset="earliest", commit_interval=1.0,
                      state_dir=args.state_dir, loglevel="WARNING",
                      processing_guarantee="at-least-once")
    sink = app.topic(args.sink, value_serializer="bytes")
    inputs = [app.topic(name, value_deserializer="bytes") for name in args.topics]
    sdf = app.dataframe(inputs[0])
    for topic in inputs[1:]:
        sdf = sdf.concat(app.dataframe(topic))

    def scored(value: bytes, state: State) -> bytes:
        try:
            event = orjson.loads(value)
            row = state.get("row") or [0.0] * ROW
            result = update(row, event)
        except (ValueError, KeyError, TypeError, ZeroDivisionError):
            return b"{}"
        state.set("row", row)
        return orjson.dumps({"customer_id": event.get("customer_id"), "score": round(result, 1),
                             "ts": event["ts"]})

    sdf = sdf.apply(scored, stateful=True)
    sdf.to_topic(sink)
    app.run()


if __name__ == "__main__":
    main()
