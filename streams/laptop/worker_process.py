"""Running ``relscore worker`` (or another relscore service) as a child process, as the demo
and the tests do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from streams.settings import READ, Settings


class WorkerProcess:
    """One ``relscore worker`` child with its own log file."""

    command = "worker"

    def __init__(self, settings: Settings, log_path: Path,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web.port}"

    def headers(self, role: str = READ) -> dict[str, str]:
        """What a client of this worker sends: a bearer token of ``role`` when it has tokens."""
        return self.settings.web.client_headers(role)

    def start(self) -> WorkerProcess:
        """Start the worker (returns at once; see :meth:`wait_ready`)."""
        env = {**os.environ, **self.settings.to_env(), **self.extra_env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # -P: the working directory does not come first on sys.path, so a PYTHONPATH in
            # the environment (the compiled build, say) decides which scorers/ it imports.
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", "streams.cli", self.command],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until the worker's web server answers ``/healthz`` and it has joined its group.

        Raises RuntimeError with the log's tail when it exits or does not become ready.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.command} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        return self._healthy() and b"Worker ready" in self.log_path.read_bytes()

    def _healthy(self) -> bool:
        try:
            request = urllib.request.Request(self.url + "/healthz", headers=self.headers())
            with urllib.request.urlopen(request, timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 60.0) -> int | None:
        """Graceful stop (SIGTERM), then SIGKILL after ``timeout``; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process (a crash, for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class NotifyProcess(WorkerProcess):
    """One ``relscore notify`` child: ready once its ``/healthz`` answers 200 (owners read,
    consuming the alerts)."""

    command = "notify"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.notify.port}"

    def _ready(self) -> bool:
        return self._healthy()
