"""``relscore project`` failures a user can hit without a broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # free again once closed: nothing listens there


def test_unreachable_kafka_exits_3_with_what_to_check() -> None:
    port = _closed_port()
    env = {**os.environ, "RELSCORE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
           "RELSCORE_WEB_HOST": "127.0.0.1", "RELSCORE_WEB_PORT": str(_closed_port())}
    done = subprocess.run([sys.executable, "-m", "streams.cli", "project", "--metrics-port",
                           str(_closed_port())], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("relscore: cannot read relationship-scores from Kafka at 127.0.0.1:")
    assert "RELSCORE_KAFKA_BOOTSTRAP" in last
    assert "Traceback" not in done.stderr


def test_busy_metrics_port_is_refused_with_the_option_to_change() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "RELSCORE_WEB_HOST": "127.0.0.1"}
        done = subprocess.run([sys.executable, "-m", "streams.cli", "project", "--metrics-port",
                               str(port)], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
    assert done.returncode == 2, done.stderr
    assert "--metrics-port" in done.stderr and str(port) in done.stderr
