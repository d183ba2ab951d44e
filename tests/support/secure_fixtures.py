"""Fixtures for the security tests (registered by ``pytest_plugins`` in ``tests/conftest.py``):
a throw-away CA and server certificate (openssl CLI), a SASL_SSL (SCRAM-SHA-512) Kafka and a
TLS-only Redis with an ACL user, both started by :mod:`tests.support.secure_servers` on ports
of their own, apart from the plain `relscore stack` the other integration tests use.

Every password is a sentinel (``S3NT1NEL-...``) so that a test can scan any output for it.
Ports: RELSCORE_SECURE_KAFKA_PORT (29392), RELSCORE_SECURE_KAFKA_CONTROLLER_PORT (29393),
RELSCORE_SECURE_REDIS_PORT (26390). The defaults sit below Linux's ephemeral range (32768-60999):
a fixed port inside it can be taken by the local end of any client socket, which once failed CI.
Run files live in a fresh /tmp/h8-sec-* directory that is removed at the end of the session.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.kafka_clients import kafka_client_config
from streams.runtime.topic_layout import ensure_topics
from streams.settings import Settings
from tests.support.secure_servers import (
    TlsFiles,
    start_secure_kafka,
    start_tls_redis,
    stop_secure_kafka,
    stop_tls_redis,
)
from tests.support.stack_fixtures import free_port

SENTINEL = "S3NT1NEL"
KAFKA_USER = "relscore"
REDIS_USER = "relscore"
# A secret per run, all starting with SENTINEL: any output holding SENTINEL leaked one.
_RUN = uuid.uuid4().hex[:8]
KAFKA_PASSWORD = f"{SENTINEL}-kafka-{_RUN}"
REDIS_PASSWORD = f"{SENTINEL}-redis-{_RUN}"

KAFKA_PORT = int(os.environ.get("RELSCORE_SECURE_KAFKA_PORT", "29392"))
CONTROLLER_PORT = int(os.environ.get("RELSCORE_SECURE_KAFKA_CONTROLLER_PORT", "29393"))
REDIS_PORT = int(os.environ.get("RELSCORE_SECURE_REDIS_PORT", "26390"))


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl makes the test certificates: apt-get install openssl")
    done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key) PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN=relscore test {name}", "-keyout", str(key), "-out", str(cert),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return cert, key


def make_tls(directory: Path) -> TlsFiles:
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it (PKCS#8 key)."""
    ca_cert, ca_key = make_ca(directory)
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", str(key), "-out", str(csr), cwd=directory)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
             cwd=directory)
    return TlsFiles(ca_cert=ca_cert, cert=cert, key=key)


@pytest.fixture(scope="session")
def secure_run_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="h8-sec-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tls(secure_run_dir: Path) -> TlsFiles:
    return make_tls(secure_run_dir / "tls")


@pytest.fixture(scope="session")
def secure_stack(secure_run_dir: Path, tls: TlsFiles) -> Iterator[Settings]:
    """SASL_SSL Kafka + TLS Redis for the session; yields settings that reach both."""
    run = secure_run_dir / "run"
    try:
        start_secure_kafka(run, KAFKA_PORT, CONTROLLER_PORT, tls, {KAFKA_USER: KAFKA_PASSWORD})
        start_tls_redis(run, REDIS_PORT, tls, {REDIS_USER: REDIS_PASSWORD})
        yield Settings().override(
            kafka_bootstrap=f"127.0.0.1:{KAFKA_PORT}",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=KAFKA_USER,
            kafka_sasl_password=KAFKA_PASSWORD,
            kafka_ssl_cafile=str(tls.ca_cert),
            redis_url=f"rediss://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:{REDIS_PORT}/0",
            redis_ca_file=str(tls.ca_cert),
            web_host="127.0.0.1",
        )
    finally:
        stop_tls_redis(run)
        stop_secure_kafka(run)


_counter = itertools.count()


def isolated(base: Settings, data_dir: Path, **overrides: Any) -> Settings:
    """``base`` with topics, group, web port and Redis prefix of its own (topics created)."""
    tag = f"s{next(_counter)}-{uuid.uuid4().hex[:6]}"
    settings = base.namespaced(
        tag,
        web_port=free_port(),
        data_dir=str(data_dir / tag),
        # The ACL user may only touch relscore:* keys.
        redis_prefix=f"relscore:{tag}:",
        **overrides,
    )
    ensure_topics(settings)
    return settings


def produce_events(settings: Settings, events: Iterable[dict[str, Any]]) -> int:
    """Send events (event-file form, with ``topic``) with kafka-python over ``settings``."""
    names = {
        "purchases": settings.topics.purchases,
        "support-tickets": settings.topics.tickets,
        "interactions": settings.topics.interactions,
    }
    producer = KafkaProducer(**kafka_client_config(settings.kafka))
    try:
        count = 0
        for event in events:
            body = {k: v for k, v in event.items() if k != "topic"}
            producer.send(names[event["topic"]], key=event["customer_id"].encode(),
                          value=orjson.dumps(body))
            count += 1
        producer.flush()
        return count
    finally:
        producer.close()
