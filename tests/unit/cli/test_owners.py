"""``relscore owners load`` without a broker: what it says about files, and its exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli.main import main


def test_dry_run_lists_bad_rows_by_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    export = tmp_path / "owners.csv"
    export.write_text("customer_id,owner,email\nc-1,Ana,ana@example.com\nc-2,,\n"
                      "c-3,Bo,bo@\nc-1,Cy,\n")
    assert main(["owners", "load", str(export), "--dry-run"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "  line 3: owner is missing: every row needs customer_id and owner"
    assert out[1].startswith("  line 4: email 'bo@' is not an email address")
    assert out[2] == (f"would load 1 owners from {export} into relationship-owners; "
                      "2 rows rejected; 1 rows were superseded by a later row of the same "
                      "customer")


def test_a_clean_file_exits_0_and_a_file_of_no_valid_rows_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    clean = tmp_path / "owners.jsonl"
    clean.write_text('{"customer_id": "c-1", "owner": "Ana"}\n')
    assert main(["owners", "load", str(clean), "--dry-run"]) == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("customer_id,owner\n")
    assert main(["owners", "load", str(empty), "--dry-run"]) == 2
    assert "has no valid owner row (0 rejected); nothing was loaded" in capsys.readouterr().err
    assert main(["owners", "load", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_unreachable_kafka_exits_3_and_says_what_to_check(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    export = tmp_path / "owners.csv"
    export.write_text("customer_id,owner\nc-1,Ana\n")
    env = {**os.environ, "RELSCORE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, "-m", "streams.cli", "owners", "load", str(export)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("relscore: ") and "RELSCORE_KAFKA_BOOTSTRAP" in last, last
