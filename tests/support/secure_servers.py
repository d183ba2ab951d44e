"""Test servers: a SASL_SSL (SCRAM-SHA-512) Kafka and a TLS-only Redis with an ACL user.

For the security tests only (not shipped in the wheel). They reuse the laptop kit's launcher
(:mod:`streams.laptop.stack`: the Kafka jars, the Java and redis-server look-ups, the detached
process handling) but live in a run dir and on ports of their own, apart from `relscore stack`;
certificates are supplied by the caller (the tests generate a throw-away CA).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from streams.laptop.stack import (
    KAFKA_HEAP,
    KAFKA_JVM_FLAGS,
    KAFKA_VERSION,
    Echo,
    StackError,
    broker_answers,
    ensure_kafka_lib,
    escape_property,
    find_java,
    find_redis_server,
    kafka_assets,
    new_cluster_id,
    port_open,
    read_pid,
    spawn,
    stop_pidfile,
    wait_or_kill,
)

_LOG = logging.getLogger(__name__)

# ---------------------------------------------------------------- secured services (tests)
#
# A SASL_SSL Kafka and a TLS Redis with an ACL user, for the security tests and for trying
# relscore's security settings locally. They live in their own run dir and ports, apart from
# `relscore stack`; certificates are supplied by the caller (the tests generate a throw-away CA).

SCRAM_MECHANISM = "SCRAM-SHA-512"
# Characters a secret may hold here: kafka-storage's --add-scram syntax ([name=..,password=..])
# and the JAAS line have no escaping worth trusting, so anything else is refused up front.
_SAFE_SECRET = re.compile(r"^[A-Za-z0-9._~+/@%^-]{1,128}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a TLS server: the CA clients trust, the server certificate and its key.

    ``key`` must be an unencrypted PKCS#8 key (``-----BEGIN PRIVATE KEY-----``), which is what
    Kafka's PEM keystore (``ssl.keystore.type=PEM``) reads without a key password.
    """

    ca_cert: Path
    cert: Path
    key: Path


def _check_secret(kind: str, name: str, secret: str) -> None:
    if not _SAFE_NAME.match(name):
        raise StackError(f"{kind} user name {name!r} must match {_SAFE_NAME.pattern}")
    if not _SAFE_SECRET.match(secret):
        # The secret itself is never part of the message.
        raise StackError(f"the {kind} password of {name!r} must match {_SAFE_SECRET.pattern}")


def _secure_kafka_dir(run_dir: Path) -> Path:
    return Path(run_dir).resolve() / "kafka"


def _sasl_admin_answers(port: int, cafile: Path, username: str, password: str,
                        timeout: float = 5.0) -> bool:
    """A SASL_SSL metadata round-trip as ``username`` (after a cheap TCP check)."""
    return broker_answers("127.0.0.1", port, timeout, security_protocol="SASL_SSL",
                          sasl_mechanism=SCRAM_MECHANISM, sasl_plain_username=username,
                          sasl_plain_password=password, ssl_cafile=str(cafile))


def _secure_kafka_properties(kdir: Path, port: int, controller_port: int, tls: TlsFiles,
                             broker_user: str, broker_password: str) -> str:
    keystore = kdir / "keystore.pem"
    # Kafka's PEM keystore: the private key and the certificate chain in one file.
    keystore.write_text(Path(tls.key).read_text() + Path(tls.cert).read_text())
    keystore.chmod(0o600)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{broker_user}" password="{broker_password}";'
    )
    lines = [
        "# Single-node KRaft broker with a SASL_SSL (SCRAM-SHA-512) client listener.",
        "# Written by tests/support/secure_servers.py start_secure_kafka; for tests only.",
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        # Inter-broker traffic uses the SASL_SSL listener as the broker's own SCRAM user.
        "inter.broker.listener.name=SASL_SSL",
        f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
        f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={escape_property(jaas)}",
        f"super.users=User:{broker_user}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={escape_property(str(keystore))}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={escape_property(str(Path(tls.ca_cert).resolve()))}",
        "ssl.client.auth=none",
        f"log.dirs={escape_property(str(kdir / 'data'))}",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "auto.create.topics.enable=false",
        "num.partitions=4",
        "group.initial.rebalance.delay.ms=0",
    ]
    return "\n".join(lines) + "\n"


def start_secure_kafka(
    run_dir: Path,
    port: int,
    controller_port: int,
    tls: TlsFiles,
    scram_users: dict[str, str],
    *,
    broker_user: str = "broker",
    broker_password: str | None = None,
    echo: Echo = _LOG.info,
    timeout: float = 120.0,
) -> int:
    """Start a single-node KRaft Kafka whose only client listener is ``SASL_SSL`` on
    ``127.0.0.1:port`` (SCRAM-SHA-512, server certificate ``tls``), and wait until the
    broker user can fetch metadata over it; returns the pid (stop with
    :func:`stop_secure_kafka`).

    The controller listener (``controller_port``) is PLAINTEXT on 127.0.0.1. SCRAM credentials
    of ``scram_users`` (name -> password) and of the broker's own super user are written into
    the metadata log when the storage is formatted (``kafka-storage format --add-scram``), so
    they exist from the first start. No authorizer is configured: any authenticated user may
    use any topic; an unauthenticated or wrongly authenticated client gets nothing.
    """
    kdir = _secure_kafka_dir(run_dir)
    pidfile = kdir / "kafka.pid"
    if read_pid(pidfile, "kafka.Kafka") is not None:
        raise StackError(f"a secure Kafka of {kdir} is already running; stop it first")
    for busy in (port, controller_port):
        if port_open(busy):
            raise StackError(f"port {busy} is already in use; choose other ports")
    broker_password = broker_password or uuid.uuid4().hex
    _check_secret("Kafka", broker_user, broker_password)
    for name, secret in scram_users.items():
        _check_secret("Kafka", name, secret)
    java = find_java()
    lib = ensure_kafka_lib(echo)
    (kdir / "logs").mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    props.write_text(_secure_kafka_properties(
        kdir, port, controller_port, tls, broker_user, broker_password))
    props.chmod(0o600)
    log4j = kdir / "log4j.properties"
    shutil.copyfile(kafka_assets() / "log4j.properties", log4j)
    base = [
        java,
        f"-Dkafka.logs.dir={kdir / 'logs'}",
        f"-Dlog4j.configuration={log4j.as_uri()}",
        "-cp",
        f"{lib}/*",
    ]
    if not (kdir / "data" / "meta.properties").is_file():
        scram = [
            arg
            for name, secret in {**scram_users, broker_user: broker_password}.items()
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={secret}]")
        ]
        cmd = [*base, "-Xmx256m", "kafka.tools.StorageTool", "format",
               "-t", new_cluster_id(), "-c", str(props), *scram]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            output = done.stdout + done.stderr
            for secret in (*scram_users.values(), broker_password):
                output = output.replace(secret, "***")
            raise StackError(f"kafka-storage format (with --add-scram) failed:\n{output}")
    cmd = [*base, *KAFKA_HEAP, *KAFKA_JVM_FLAGS, "kafka.Kafka", str(props)]
    pid = spawn(cmd, kdir / "kafka.out", pidfile, kdir)
    echo(f"started SASL_SSL Kafka {KAFKA_VERSION} (pid {pid}) on 127.0.0.1:{port}")
    wait_or_kill(
        lambda: _sasl_admin_answers(port, Path(tls.ca_cert), broker_user, broker_password),
        pid, pidfile, timeout, f"SASL_SSL Kafka on 127.0.0.1:{port}",
        [kdir / "kafka.out", kdir / "logs" / "server.log"], kill_timeout=10,
    )
    return pid


def stop_secure_kafka(run_dir: Path, *, timeout: float = 30.0, force: bool = False) -> bool:
    """Stop the Kafka :func:`start_secure_kafka` started in ``run_dir``; True if it ran."""
    return stop_pidfile(_secure_kafka_dir(run_dir) / "kafka.pid", "kafka.Kafka", timeout, force)


def _tls_redis_answers(port: int, cafile: Path, username: str, password: str,
                       timeout: float = 2.0) -> bool:
    if not port_open(port):
        return False
    client = redis.Redis(
        host="127.0.0.1", port=port, username=username, password=password, ssl=True,
        ssl_ca_certs=str(cafile), socket_timeout=timeout, socket_connect_timeout=timeout,
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def start_tls_redis(
    run_dir: Path,
    port: int,
    tls: TlsFiles,
    users: dict[str, str],
    *,
    key_pattern: str = "relscore:*",
    echo: Echo = _LOG.info,
    timeout: float = 30.0,
) -> int:
    """Start redis-server with TLS only (``--port 0 --tls-port port`` on 127.0.0.1, no client
    certificates) and ACL users from an ACL file: the ``default`` user is off, each of
    ``users`` (name -> password) may run every command on keys matching ``key_pattern``.
    Waits for an authenticated PING over TLS; returns the pid (stop with
    :func:`stop_tls_redis`)."""
    rdir = Path(run_dir).resolve() / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    pidfile = rdir / "redis.pid"
    if read_pid(pidfile, "redis-server") is not None:
        raise StackError(f"a TLS Redis of {rdir} is already running; stop it first")
    if port_open(port):
        raise StackError(f"port {port} is already in use; choose another port")
    if not users:
        raise StackError("start_tls_redis needs at least one ACL user")
    for name, secret in users.items():
        _check_secret("Redis", name, secret)
    # An ACL file rather than --user arguments keeps the passwords off the command line.
    aclfile = rdir / "users.acl"
    aclfile.write_text("user default off\n" + "".join(
        f"user {name} on >{secret} ~{key_pattern} +@all\n" for name, secret in users.items()
    ))
    aclfile.chmod(0o600)
    cmd = [
        find_redis_server(echo),
        "--port", "0",
        "--tls-port", str(port),
        "--bind", "127.0.0.1",
        "--tls-cert-file", str(Path(tls.cert).resolve()),
        "--tls-key-file", str(Path(tls.key).resolve()),
        "--tls-ca-cert-file", str(Path(tls.ca_cert).resolve()),
        "--tls-auth-clients", "no",
        "--aclfile", str(aclfile),
        "--dir", str(rdir),
        "--daemonize", "no",
        "--save", "",
        "--appendonly", "no",
    ]
    pid = spawn(cmd, rdir / "redis.out", pidfile, rdir)
    echo(f"started TLS redis-server (pid {pid}) on 127.0.0.1:{port}")
    name, secret = next(iter(users.items()))
    wait_or_kill(
        lambda: _tls_redis_answers(port, Path(tls.ca_cert), name, secret),
        pid, pidfile, timeout, f"TLS Redis on 127.0.0.1:{port}", [rdir / "redis.out"],
        kill_timeout=5,
    )
    return pid


def stop_tls_redis(run_dir: Path, *, timeout: float = 15.0, force: bool = False) -> bool:
    """Stop the redis-server :func:`start_tls_redis` started in ``run_dir``; True if it ran."""
    pidfile = Path(run_dir).resolve() / "redis" / "redis.pid"
    return stop_pidfile(pidfile, "redis-server", timeout, force)
