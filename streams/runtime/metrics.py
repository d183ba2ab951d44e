"""Prometheus metrics of the scoring pipeline (names prefixed ``relscore_``).

No label ever carries a customer id: labels are topics, outcomes, reasons, alert types.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.metrics import MetricWrapperBase

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter(
    "relscore_events",
    "Input events by source topic and outcome (scored, duplicate, rejected, rekeyed).",
    ["topic", "outcome"],
    registry=REGISTRY,
)
DLQ = Counter(
    "relscore_dlq_messages",
    "Messages sent to the dead-letter topic, by reason.",
    ["reason"],
    registry=REGISTRY,
)
LATE_EVENTS = Counter(
    "relscore_late_events",
    "Events older than the customer's clock (applied exactly, counted here).",
    registry=REGISTRY,
)
STALE_FETCHES = Counter(
    "relscore_stale_fetches",
    "Whole fetches skipped because the group rebalanced after they were fetched (their "
    "records are read again from the committed offsets).",
    registry=REGISTRY,
)
SCORE_UPDATES = Counter(
    "relscore_score_updates",
    "Score messages published, by reason (event or decay).",
    ["reason"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "relscore_alerts",
    "Alerts published, by type and severity.",
    ["type", "severity"],
    registry=REGISTRY,
)
SCORES = Histogram(
    "relscore_score",
    "Distribution of published scores.",
    buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "relscore_event_processing_seconds",
    "Time to decode, score and publish one event.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
    registry=REGISTRY,
)
EVENT_TIME_LAG = Histogram(
    "relscore_event_time_lag_seconds",
    "Record time minus event time of scored events (how stale events are on arrival).",
    buckets=(0.1, 1, 10, 60, 600, 3600, 86400, 7 * 86400),
    registry=REGISTRY,
)
INPUT_LAST_RECORD = Gauge(
    "relscore_input_last_record_timestamp_seconds",
    "Record (producer) time of the newest record read from each input topic; set to the "
    "worker's start time until one arrives. A topic far behind the others is a silent feed, "
    "not silent customers (alert RelscoreInputFeedSilent).",
    ["topic"],
    registry=REGISTRY,
)
CUSTOMERS = Gauge(
    "relscore_customers",
    "Customers per band among those whose state this worker holds (sum over workers).",
    ["band"],
    registry=REGISTRY,
)
REDIS_ERRORS = Counter(
    "relscore_redis_errors",
    "Failed Redis read-model operations (the projector retries with backoff).",
    ["operation"],
    registry=REGISTRY,
)
REDIS_WRITE_SECONDS = Histogram(
    "relscore_redis_write_seconds",
    "Time to write one batch of score updates to Redis.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
    registry=REGISTRY,
)
REDIS_PENDING = Gauge(
    "relscore_redis_pending_customers",
    "Customers whose latest score is not yet in Redis (bounded: one entry per customer).",
    registry=REGISTRY,
)
REDIS_WRITES = Counter(
    "relscore_redis_customers_written",
    "Customer records written to the Redis read model.",
    registry=REGISTRY,
)
SCHEDULED = Gauge(
    "relscore_scheduled_customers",
    "Customers in this worker's due-time schedule (re-scored when time alone may cross a level).",
    registry=REGISTRY,
)


@functools.cache
def child(metric: MetricWrapperBase, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: the label values seen are few (topics,
    outcomes, reasons, alert types), and ``labels()`` costs more than the increment."""
    return metric.labels(*labels)
COMMIT_STALLED = Gauge(
    "relscore_commit_stalled_seconds",
    "Seconds an input partition's committed offset has not moved while records delivered to "
    "this worker wait behind it (0: none wait); only partitions this worker holds.",
    ["topic", "partition"],
    registry=REGISTRY,
)
API_REFUSALS = Counter(
    "relscore_api_refusals",
    "HTTP requests refused by the API's access control: 401 (no or unknown token) or 403 "
    "(a read token on an operate route).",
    ["status"],
    registry=REGISTRY,
)
BUILD = Info(
    "relscore_build",
    "What this worker runs: the scorer version and whether scorers/ is the mypyc build.",
    registry=REGISTRY,
)


def scorers_build() -> str:
    """``"compiled"`` when ``scorers`` is the mypyc build (``make compiled``), else ``"pure"``.

    >>> scorers_build() in ("compiled", "pure")
    True
    """
    import scorers.model

    return "compiled" if str(scorers.model.__file__).endswith(".so") else "pure"
