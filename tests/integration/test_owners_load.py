"""``relscore owners load`` on the real broker, read back with kafka-python."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from streams.notify.owners import Owner
from streams.settings import Settings
from streams.tools.topic_reader import read_records
from tests.support.notify_support import cleanup_policy

pytestmark = pytest.mark.integration


def owners_load(settings: Settings, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "owners", "load", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **settings.to_env()},
    )


def test_owners_load_into_a_compacted_topic_keyed_by_customer(
    settings: Settings, tmp_path: Path,
) -> None:
    # A topic the worker never created: the loader must create it compacted.
    settings = settings.override(topic_owners=f"owners-{uuid.uuid4().hex[:8]}")
    export = tmp_path / "crm-export.csv"
    export.write_text("customer_id,owner,email,slack,region\n"
                      "acme-1,Ana Lima,ana@example.com,@ana,EMEA\n"
                      "globex-2,Bo Chen,,#cs-us,US\n"
                      "initech-3,,cy@example.com,,US\n"
                      "umbrella-4,Cy Diaz,cy@example.com,,APAC\n")
    done = owners_load(settings, export)
    assert done.returncode == 1, done.stderr  # one row rejected, the others loaded
    assert "  line 4: owner is missing" in done.stdout
    assert f"loaded 3 owners from {export} into {settings.topics.owners}" in done.stdout

    assert cleanup_policy(settings, settings.topics.owners) == "compact"
    records = read_records(settings, settings.topics.owners)
    assert {record.key: Owner.from_json(record.value) for record in records} == {
        b"acme-1": Owner("acme-1", "Ana Lima", "ana@example.com", "@ana"),
        b"globex-2": Owner("globex-2", "Bo Chen", None, "#cs-us"),
        b"umbrella-4": Owner("umbrella-4", "Cy Diaz", "cy@example.com", None),
    }

    # A later export moves a customer to another owner; its latest record says so.
    export.write_text("customer_id,owner\nacme-1,Dee Egan\n")
    done = owners_load(settings, export)
    assert done.returncode == 0, done.stderr
    latest = {record.key: Owner.from_json(record.value)
              for record in read_records(settings, settings.topics.owners)}
    assert latest[b"acme-1"] == Owner("acme-1", "Dee Egan", None, None)
    assert len(latest) == 3
