"""The demo deletes its topics at the end: every one of them must be its own."""

from __future__ import annotations

from pathlib import Path

from streams.laptop.demo import demo_settings
from streams.runtime.topic_layout import required_topics
from streams.settings import Settings


def test_every_topic_the_demo_creates_and_deletes_carries_its_run_prefix(tmp_path: Path) -> None:
    demo = demo_settings(Settings(), tmp_path, "r1")
    names = [spec.name for spec in required_topics(demo)]
    shared = {spec.name for spec in required_topics(Settings())}
    assert all(name.startswith(("demo-r1.", "relscore-demo-r1-")) for name in names), names
    assert not shared & set(names)
