"""The integration fixtures (real Kafka + Redis stack, worker processes, event producer),
re-exported for the deployment tests that check a running worker's /metrics."""

from __future__ import annotations

from tests.integration.conftest import EventProducer, produce, settings, stack, start_worker

__all__ = ["EventProducer", "produce", "settings", "stack", "start_worker"]
