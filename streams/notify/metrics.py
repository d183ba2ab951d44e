"""Prometheus metrics of ``relscore notify`` (its own registry: it is its own process).

Labels are destination names (from the routes file), kinds and outcomes, never a customer id,
an address or a URL.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

ALERTS = Counter(
    "relscore_notify_alerts",
    "Alerts read from the alerts topic, by outcome (routed, unrouted: no route takes it, "
    "held: its customer is snoozed, not_an_alert: dead-lettered unread).",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "relscore_notify_deliveries",
    "(alert, destination) pairs done, by outcome: delivered, dead_lettered (to the notify "
    "dead-letter topic after the retries), dropped (held in a snooze the customer recovered "
    "during), digested (added to a daily digest), already_done (found in the delivery log).",
    ["destination", "kind", "outcome"],
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "relscore_notify_attempts",
    "Delivery attempts (each HTTP request or SMTP session, retries included).",
    ["destination"],
    registry=REGISTRY,
)
DELIVERY_SECONDS = Histogram(
    "relscore_notify_delivery_seconds",
    "Time from taking a notification to its outcome, retries included.",
    ["destination"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
QUEUED = Gauge(
    "relscore_notify_queued",
    "Notifications waiting for their destination.",
    ["destination"],
    registry=REGISTRY,
)
PENDING = Gauge(
    "relscore_notify_pending_alerts",
    "Alerts read but not yet done at every destination (offsets are committed past none).",
    registry=REGISTRY,
)
DIGESTS = Counter(
    "relscore_notify_digests",
    "Daily digests, by outcome: sent, dead_lettered.",
    ["destination", "outcome"],
    registry=REGISTRY,
)
DIGEST_CHECKS = Counter(
    "relscore_notify_digest_checks",
    "Times a digest destination looked for recipients due a digest.",
    ["destination"],
    registry=REGISTRY,
)
HELD = Gauge(
    "relscore_notify_held_alerts",
    "Alerts of snoozed customers, held until the snooze ends.",
    registry=REGISTRY,
)
OWNERS = Gauge(
    "relscore_notify_owners",
    "Customers with an owner, as followed from the owners topic.",
    registry=REGISTRY,
)
LOG_ERRORS = Counter(
    "relscore_notify_log_errors",
    "Delivery-log (Redis) or dead-letter (Kafka) operations that failed and were retried.",
    ["store"],
    registry=REGISTRY,
)
