"""``relscore demo`` end to end on the real stack: its summary says what the topics hold."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from scorers.config import DEFAULT_CONFIG
from scorers.model import BAND_NAMES
from streams.kafka_clients import kafka_client_config
from streams.laptop.demo import run_demo
from streams.laptop.stack_settings import StackSettings
from streams.runtime.topic_layout import required_topics
from streams.settings import Settings
from streams.tools.topic_reader import latest_by_customer, read_all
from tests.support.stack_fixtures import free_port

pytestmark = pytest.mark.integration


def test_the_demo_summary_matches_the_output_topics(
    stack: Settings, local_stack: StackSettings, tmp_path: Path
) -> None:
    base = stack.override(web_port=free_port(), web_host="127.0.0.1")
    own_run_dir = dataclasses.replace(local_stack, run_dir=str(tmp_path / "run"))
    printed: list[str] = []
    result = run_demo(base, DEFAULT_CONFIG, stack=own_run_dir, customers=16, days=60, seed=3,
                      rate=150, keep_topics=True, echo=printed.append, interactive=False)
    demo = result.settings
    assert demo is not None
    try:
        assert result.code == 0, "\n".join(printed)
        summary, sim = result.summary, result.simulation
        assert summary is not None and sim is not None
        # The run used topics and a group of its own, and stopped its worker.
        assert demo.topics.scores != stack.topics.scores
        assert demo.worker.app_id != stack.worker.app_id
        assert demo.topics.scores.startswith("demo-")
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{demo.web.port}/healthz", timeout=2)
        assert result.worker_pid is None

        scores = read_all(demo, demo.topics.scores)
        alerts = read_all(demo, demo.topics.alerts)
        latest = latest_by_customer(scores)
        dlq = read_all(demo, demo.topics.dlq)

        # Same alerts, same customers at risk, same bands as the topics hold.
        assert len(summary.alerts) == len(alerts) > 0
        assert sorted(a["alert_id"] for a in summary.alerts) == sorted(
            a["alert_id"] for a in alerts)
        at_risk = sorted((cid, m["score"]) for cid, m in latest.items()
                         if m["score"] < 60 and not m["alert_hold"])
        assert sorted(summary.at_risk) == at_risk
        bands = Counter(m["band"] for m in latest.values())
        assert summary.bands == {band: bands.get(band, 0) for band in BAND_NAMES}
        assert summary.customers == len(latest) == 16
        assert summary.score_messages == len(scores)
        assert {a.customer_id for a in summary.alerted} == {a["customer_id"] for a in alerts}
        # Everything sent was scored: good events, noise and the malformed ones (DLQ).
        assert summary.facts.sent == len(sim.records)
        assert len(dlq) == sim.counts["malformed"]

        # What the simulation meant is what the demo shows.
        below = {a["customer_id"] for a in alerts if a["type"] == "below_threshold"}
        assert set(sim.customers_of("churning")) <= below
        assert not set(sim.customers_of("loyal")) & below

        # The printed summary carries the same numbers.
        text = "\n".join(printed)
        assert f"Alerts: {len(alerts)} " in text
        assert "Customers per band now: " + ", ".join(
            f"{band} {bands.get(band, 0)}" for band in BAND_NAMES) in text
        for cid, score in at_risk:
            assert f"{cid} ({score:.1f})" in text
        for customer in summary.alerted:
            assert customer.customer_id in text
        assert "score path: " in text and " -> " in text
        assert "events/s" in text and "lag:" in text
        assert f"http://127.0.0.1:{demo.web.port}/" in text
        # The demo's worker needed a token, made for the run, printed for the page.
        (token,) = demo.web.tokens
        assert token.role == "operate" and len(token.token) >= 32
        assert f"  API token          {token.token}" in text
        worker_log = (Path(own_run_dir.run_path)
                      / f"demo-{demo.worker.app_id.removeprefix('relscore-demo-')}"
                      / "worker.log")
        assert token.token not in worker_log.read_text(errors="replace")
        assert "relscore demo --keep-stack" in text

        # Every alert reached the local webhook, once, signed, told by owner.
        notes = result.notifications
        assert notes is not None
        assert (notes.alerts, notes.delivered, notes.repeats, notes.missing) == (
            len(alerts), len(alerts), 0, [])
        assert notes.signed == len(alerts)
        owners = {o["customer_id"]: o["owner"] for o in read_all(demo, demo.topics.owners)}
        expected = Counter(owners.get(a["customer_id"], "nobody") for a in alerts)
        assert {**notes.by_owner, "nobody": notes.to_team} == {
            **dict.fromkeys(expected, 0), "nobody": 0, **expected}
        assert (f"Notifications: {len(alerts)} of {len(alerts)} alerts delivered to the local "
                "webhook, every signature valid:") in text
        assert read_all(demo, demo.topics.notify_dlq) == []
    finally:
        admin = KafkaAdminClient(**kafka_client_config(demo.kafka))
        try:
            names = {spec.name for spec in required_topics(demo)}
            admin.delete_topics(sorted(names & set(admin.list_topics())))
        finally:
            admin.close()
