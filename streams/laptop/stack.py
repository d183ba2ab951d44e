"""Local dev/test stack: a single-node Apache Kafka (KRaft) broker and a Redis server.

Kafka runs from the official jars on Maven Central (resolved once with Maven from
``streams/laptop/kafka/pom.xml``, shipped as package data, into a per-user cache), Redis is
Debian's ``redis-server``. Both are started detached (own session) and everything they write lives
under ``stack.run_path``::

    <run_dir>/kafka/{server.properties,log4j.properties,cluster.id,kafka.pid,kafka.out}
    <run_dir>/kafka/data/            KRaft metadata and topic logs (kept by stack_down)
    <run_dir>/kafka/logs/server.log  broker log (warnings, start/stop lines)
    <run_dir>/redis/{redis.pid,redis.out}

The jar cache defaults to ``~/.cache/relscore/kafka-<version>/lib`` (``$XDG_CACHE_HOME`` is
honoured) and can be moved with ``RELSCORE_KAFKA_LIB_CACHE``. A service that already answers on
its port is reused and never stopped by :func:`stack_down`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from streams.laptop.stack_settings import StackSettings

__all__ = [
    "KAFKA_VERSION",
    "StackError",
    "StackStatus",
    "kafka_lib_dir",
    "restart_kafka",
    "stack_down",
    "stack_status",
    "stack_up",
    "start_kafka",
    "start_redis",
    "stop_kafka",
    "stop_redis",
]

KAFKA_VERSION = "3.9.1"
LIB_CACHE_ENV = "RELSCORE_KAFKA_LIB_CACHE"
MIN_JAVA = 17
ADVERTISED_HOST = "localhost"
KAFKA_HEAP = ("-Xmx512m", "-Xms512m")
KAFKA_JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
APT_JAVA_MAVEN = "apt-get install -y openjdk-17-jre-headless maven"
APT_REDIS = "apt-get update && apt-get install -y redis-server"

_LOG = logging.getLogger(__name__)
_MANIFEST = ".relscore-complete"
# Popen handles of the processes this interpreter started, so they are reaped (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

Echo = Callable[[str], None]


class StackError(RuntimeError):
    """The local stack cannot be started or stopped; the message says why and what to do."""


@dataclass
class StackStatus:
    """What answers where. Pids are set only for processes this module manages."""

    kafka_up: bool
    redis_up: bool
    kafka_bootstrap: str
    redis_url: str
    run_dir: Path
    kafka_pid: int | None = None
    redis_pid: int | None = None


# ---------------------------------------------------------------- paths


def kafka_assets() -> Path:
    """The launcher's files (``pom.xml``, ``log4j.properties``, the server template), shipped
    as package data so that an installed wheel starts Kafka as a checkout does."""
    assets = Path(__file__).resolve().parent / "kafka"
    if not (assets / "pom.xml").is_file():
        raise StackError(
            f"{assets}/pom.xml is missing: this relscore installation is incomplete; "
            "reinstall it (pip install --force-reinstall relscore)"
        )
    return assets


def kafka_lib_dir() -> Path:
    """Where the Kafka jars are cached: ``$RELSCORE_KAFKA_LIB_CACHE`` or the per-user cache."""
    override = os.environ.get(LIB_CACHE_ENV)
    if override:
        return Path(override).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relscore" / f"kafka-{KAFKA_VERSION}" / "lib"


def _kafka_dir(stack: StackSettings) -> Path:
    return stack.run_path / "kafka"


def _redis_dir(stack: StackSettings) -> Path:
    return stack.run_path / "redis"


def _kafka_pidfile(stack: StackSettings) -> Path:
    return _kafka_dir(stack) / "kafka.pid"


def _redis_pidfile(stack: StackSettings) -> Path:
    return _redis_dir(stack) / "redis.pid"


def _kafka_logs(stack: StackSettings) -> list[Path]:
    kdir = _kafka_dir(stack)
    return [kdir / "kafka.out", kdir / "logs" / "server.log"]


# ---------------------------------------------------------------- probes


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_answers(host: str, port: int, timeout: float = 5.0, **security: Any) -> bool:
    """A metadata round-trip with kafka-python's admin client (after a cheap TCP check);
    ``security`` are kafka-python's security arguments, for a TLS or SASL listener."""
    if not port_open(port):
        return False
    ms = int(timeout * 1000)
    # kafka-python 3.0.x starts its IO thread before bootstrapping and leaks it when
    # bootstrapping fails, so build the client in two steps to be able to close it.
    admin = KafkaAdminClient.__new__(KafkaAdminClient)
    try:
        admin.__init__(
            bootstrap_servers=f"{host}:{port}",
            client_id="relscore-stack-probe",
            bootstrap_timeout_ms=ms,
            request_timeout_ms=ms,
            **security,
        )
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError):
        return False
    finally:
        if hasattr(admin, "_net"):
            admin._closed = False
            with contextlib.suppress(KafkaError, OSError):
                admin.close()


def _kafka_answers(port: int, timeout: float = 5.0) -> bool:
    return broker_answers("localhost", port, timeout)


def _redis_answers(port: int, timeout: float = 2.0) -> bool:
    if not port_open(port):
        return False
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _tail(paths: list[Path], lines: int = 30) -> str:
    parts: list[str] = []
    for path in paths:
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            continue
        if text:
            parts.append(f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text))
    return "\n".join(parts) or "(no log output)"


# ---------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def read_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive and is ours; stale files are removed."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    alive = _pid_alive(pid)
    if alive and Path("/proc/self").exists():  # guard against a recycled pid
        try:
            alive = marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            alive = False
    if not alive:
        pidfile.unlink(missing_ok=True)
        return None
    return pid


def spawn(cmd: list[str], out: Path, pidfile: Path, cwd: Path) -> int:
    with out.open("ab") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def _terminate(pid: int, timeout: float, force: bool) -> None:
    """SIGTERM (unless ``force``), wait up to ``timeout`` s, then SIGKILL the process group."""
    if not force:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    if _pid_alive(pid) or force:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_pidfile(pidfile: Path, marker: str, timeout: float, force: bool) -> bool:
    """Stop the process recorded in ``pidfile`` (if it is still ``marker``); True if it ran."""
    pid = read_pid(pidfile, marker)
    if pid is not None:
        _terminate(pid, timeout, force)
    pidfile.unlink(missing_ok=True)
    return pid is not None


def wait_or_kill(ready: Callable[[], bool], pid: int, pidfile: Path, timeout: float, what: str,
                  logs: list[Path], kill_timeout: float) -> None:
    """:func:`_wait_until`; a server that does not come up is killed and forgotten."""
    try:
        _wait_until(ready, pid, timeout, what, logs)
    except StackError:
        _terminate(pid, kill_timeout, force=True)
        pidfile.unlink(missing_ok=True)
        raise


def _wait_until(
    ready: Callable[[], bool], pid: int | None, timeout: float, what: str, logs: list[Path]
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if pid is not None and not _pid_alive(pid):
            raise StackError(f"{what} exited during start-up.\n{_tail(logs)}")
        if time.monotonic() >= deadline:
            raise StackError(f"{what} did not answer within {timeout:.0f} s.\n{_tail(logs)}")
        time.sleep(0.25)


# ---------------------------------------------------------------- prerequisites


def find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise StackError(f"java (>= {MIN_JAVA}) not found; install it: {APT_JAVA_MAVEN}")
    out = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise StackError(f"cannot tell the version of {java}: {out.stderr.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise StackError(
            f"{java} is Java {major}; Kafka needs Java >= {MIN_JAVA}: {APT_JAVA_MAVEN} "
            "(or point JAVA_HOME at a newer JDK)"
        )
    return java


def find_redis_server(echo: Echo) -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise StackError(f"redis-server is not installed; install it: sudo {APT_REDIS}")
    if shutil.which("apt-get") is None:
        raise StackError("redis-server is not installed and apt-get is missing; install Redis")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "redis-server"]):
        echo(f"redis-server not found; running: {' '.join(cmd)}")
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=1800, check=False
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise StackError(f"{' '.join(cmd)} failed ({done.returncode}):\n{tail}")
    found = shutil.which("redis-server")
    if found is None:
        raise StackError("apt-get installed redis-server but it is not on PATH")
    return found


# ---------------------------------------------------------------- Kafka jars


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def _lib_complete(lib: Path, pom: Path | None) -> bool:
    try:
        lines = (lib / _MANIFEST).read_text().splitlines()
    except OSError:
        return False
    if not lines or (pom is not None and lines[0] != _pom_digest(pom)):
        return False
    jars = lines[1:]
    return f"kafka_2.13-{KAFKA_VERSION}.jar" in jars and all((lib / j).is_file() for j in jars)


def ensure_kafka_lib(echo: Echo) -> Path:
    """Resolve the Kafka classpath with Maven into the cache once; return the lib dir."""
    lib = kafka_lib_dir()
    pom_path = kafka_assets() / "pom.xml"
    pom = pom_path if pom_path.is_file() else None
    if _lib_complete(lib, pom):
        return lib
    with _locked(lib.parent / f"{lib.name}.lock"):
        if _lib_complete(lib, pom):
            return lib
        if pom is None:
            raise StackError(f"{lib} is incomplete and {pom_path} is missing")
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(f"mvn not found (needed once to fetch Kafka): {APT_JAVA_MAVEN}")
        staging = lib.parent / f"{lib.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        echo(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central into {lib} (once)")
        started = time.monotonic()
        # Maven runs on a copy of the pom: the package's own folder may be read-only (an
        # installed wheel), and Maven's target/ belongs in the cache, not in site-packages.
        build = lib.parent / f"{lib.name}.build-{os.getpid()}"
        build.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pom, build / "pom.xml")
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(build / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        try:
            done = subprocess.run(
                cmd, cwd=build, capture_output=True, text=True, timeout=1800, check=False
            )
        finally:
            shutil.rmtree(build, ignore_errors=True)
        jars = sorted(p.name for p in staging.glob("*.jar"))
        if done.returncode != 0 or f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise StackError(
                f"Maven could not fetch kafka_2.13 {KAFKA_VERSION} (exit {done.returncode}); "
                f"check access to Maven Central and {pom}:\n{tail}"
            )
        (staging / _MANIFEST).write_text("\n".join([_pom_digest(pom), *jars]) + "\n")
        old = lib.parent / f"{lib.name}.old-{os.getpid()}"
        if lib.exists():
            lib.rename(old)
        staging.rename(lib)
        shutil.rmtree(old, ignore_errors=True)
        echo(f"fetched {len(jars)} jars in {time.monotonic() - started:.1f} s")
        return lib


# ---------------------------------------------------------------- Kafka


def escape_property(value: str) -> str:
    return value.replace("\\", "\\\\")


def new_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _write_kafka_config(stack: StackSettings) -> tuple[Path, Path]:
    kdir = _kafka_dir(stack)
    (kdir / "logs").mkdir(parents=True, exist_ok=True)
    deploy = kafka_assets()
    template = string.Template((deploy / "server.properties.template").read_text())
    props = kdir / "server.properties"
    props.write_text(
        template.substitute(
            kafka_port=stack.kafka_port,
            controller_port=stack.kafka_controller_port,
            advertised_host=ADVERTISED_HOST,
            data_dir=escape_property(str(kdir / "data")),
        )
    )
    log4j = kdir / "log4j.properties"
    shutil.copyfile(deploy / "log4j.properties", log4j)
    return props, log4j


def _java_base(java: str, lib: Path, stack: StackSettings, log4j: Path) -> list[str]:
    return [
        java,
        f"-Dkafka.logs.dir={_kafka_dir(stack) / 'logs'}",
        f"-Dlog4j.configuration={log4j.as_uri()}",
        "-cp",
        f"{lib}/*",
    ]


def _format_storage(java: str, lib: Path, stack: StackSettings, props: Path, log4j: Path) -> None:
    kdir = _kafka_dir(stack)
    if (kdir / "data" / "meta.properties").is_file():
        return
    id_file = kdir / "cluster.id"
    if not id_file.is_file():
        id_file.write_text(new_cluster_id() + "\n")
    cluster_id = id_file.read_text().strip()
    cmd = [
        *_java_base(java, lib, stack, log4j),
        "-Xmx256m",
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(props),
        "--ignore-formatted",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise StackError(f"kafka-storage format failed:\n{done.stdout}{done.stderr}")


def _launch_kafka(stack: StackSettings, echo: Echo) -> tuple[int | None, bool]:
    """Start Kafka unless it answers or is starting. Returns (managed pid, needs waiting)."""
    port = stack.kafka_port
    pidfile = _kafka_pidfile(stack)
    pid = read_pid(pidfile, "kafka.Kafka")
    if _kafka_answers(port):
        if pid is None:
            echo(f"Kafka already answers on localhost:{port}; reusing it")
        return pid, False
    if pid is not None:
        echo(f"Kafka (pid {pid}) is running but not answering yet; waiting for it")
        return pid, True
    for busy in (port, stack.kafka_controller_port):
        if port_open(busy):
            raise StackError(
                f"port {busy} is in use by something that is not a working Kafka broker; "
                "stop it or choose other RELSCORE_KAFKA_PORT/RELSCORE_KAFKA_CONTROLLER_PORT"
            )
    java = find_java()
    lib = ensure_kafka_lib(echo)
    props, log4j = _write_kafka_config(stack)
    _format_storage(java, lib, stack, props, log4j)
    cmd = [
        *_java_base(java, lib, stack, log4j),
        *KAFKA_HEAP,
        *KAFKA_JVM_FLAGS,
        "kafka.Kafka",
        str(props),
    ]
    kdir = _kafka_dir(stack)
    pid = spawn(cmd, kdir / "kafka.out", pidfile, kdir)
    echo(f"started Kafka {KAFKA_VERSION} (pid {pid}) on localhost:{port}")
    return pid, True


def _wait_kafka(stack: StackSettings, pid: int | None, timeout: float) -> None:
    _wait_until(
        lambda: _kafka_answers(stack.kafka_port),
        pid,
        timeout,
        f"Kafka on localhost:{stack.kafka_port}",
        _kafka_logs(stack),
    )


def start_kafka(stack: StackSettings, *, echo: Echo = _LOG.info,
                timeout: float = 90.0) -> int | None:
    """Start Kafka (or reuse one that answers) and wait for it; return the managed pid."""
    pid, wait = _launch_kafka(stack, echo)
    if wait:
        _wait_kafka(stack, pid, timeout)
    return pid


def stop_kafka(stack: StackSettings, *, timeout: float = 30.0, force: bool = False) -> bool:
    """Stop the Kafka this module started (SIGKILL at once with ``force``); True if it ran."""
    return stop_pidfile(_kafka_pidfile(stack), "kafka.Kafka", timeout, force)


def restart_kafka(stack: StackSettings, *, echo: Echo = _LOG.info, timeout: float = 90.0) -> None:
    """Stop the managed Kafka gracefully and start it again on the same data."""
    stop_kafka(stack)
    start_kafka(stack, echo=echo, timeout=timeout)


# ---------------------------------------------------------------- Redis


def _launch_redis(stack: StackSettings, server: str, echo: Echo) -> int:
    rdir = _redis_dir(stack)
    rdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        server,
        "--port",
        str(stack.redis_port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(rdir),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    pid = spawn(cmd, rdir / "redis.out", _redis_pidfile(stack), rdir)
    echo(f"started redis-server (pid {pid}) on localhost:{stack.redis_port}")
    return pid


def start_redis(stack: StackSettings, *, echo: Echo = _LOG.info,
                timeout: float = 30.0) -> int | None:
    """Start redis-server (or reuse one that answers) and wait for PING; return the managed pid."""
    port = stack.redis_port
    pid = read_pid(_redis_pidfile(stack), "redis-server")
    if _redis_answers(port):
        if pid is None:
            echo(f"Redis already answers on localhost:{port}; reusing it")
        return pid
    if pid is None:
        if port_open(port):
            raise StackError(
                f"port {port} is in use by something that does not answer Redis PING; "
                "stop it or choose another RELSCORE_REDIS_PORT"
            )
        pid = _launch_redis(stack, find_redis_server(echo), echo)
    _wait_until(
        lambda: _redis_answers(port),
        pid,
        timeout,
        f"Redis on localhost:{port}",
        [_redis_dir(stack) / "redis.out"],
    )
    return pid


def stop_redis(stack: StackSettings, *, timeout: float = 15.0, force: bool = False) -> bool:
    """Stop the redis-server this module started; True if it was running."""
    return stop_pidfile(_redis_pidfile(stack), "redis-server", timeout, force)


# ---------------------------------------------------------------- stack


def stack_up(stack: StackSettings, *, echo: Echo = _LOG.info, timeout: float = 90.0) -> StackStatus:
    """Bring Kafka and Redis up (idempotent: whatever already answers is reused)."""
    stack.run_path.mkdir(parents=True, exist_ok=True)
    # Check (or install) what is missing before starting anything.
    if not port_open(stack.kafka_port):
        find_java()
        if shutil.which("mvn") is None and not _lib_complete(kafka_lib_dir(), None):
            raise StackError(f"mvn not found (needed once to fetch Kafka): {APT_JAVA_MAVEN}")
    if not port_open(stack.redis_port):
        find_redis_server(echo)
    kafka_pid, wait = _launch_kafka(stack, echo)
    start_redis(stack, echo=echo, timeout=timeout)
    if wait:
        _wait_kafka(stack, kafka_pid, timeout)
    status = stack_status(stack)
    if not (status.kafka_up and status.redis_up):
        raise StackError(f"stack started but does not answer: {status}")
    echo(f"stack up: kafka {status.kafka_bootstrap}, redis {status.redis_url}")
    return status


def stack_down(stack: StackSettings, *, wipe: bool = False, echo: Echo = _LOG.info) -> None:
    """Stop what :func:`stack_up` started; with ``wipe`` delete Kafka data and the Redis dir."""
    for name, stop in (("Kafka", stop_kafka), ("Redis", stop_redis)):
        echo(f"stopped {name}" if stop(stack) else f"{name}: nothing of ours was running")
    if not wipe:
        return
    targets = (
        (_kafka_dir(stack) / "data", _kafka_answers(stack.kafka_port), "Kafka"),
        (_redis_dir(stack), _redis_answers(stack.redis_port), "Redis"),
    )
    for path, still_up, name in targets:
        if still_up:
            echo(f"{name} still answers (not started by us); leaving {path} alone")
        elif path.exists():
            shutil.rmtree(path)
            echo(f"wiped {path}")


def stack_status(stack: StackSettings) -> StackStatus:
    """Probe both services and report managed pids."""
    return StackStatus(
        kafka_up=_kafka_answers(stack.kafka_port),
        redis_up=_redis_answers(stack.redis_port),
        kafka_bootstrap=f"localhost:{stack.kafka_port}",
        redis_url=f"redis://localhost:{stack.redis_port}/0",
        run_dir=stack.run_path,
        kafka_pid=read_pid(_kafka_pidfile(stack), "kafka.Kafka"),
        redis_pid=read_pid(_redis_pidfile(stack), "redis-server"),
    )
