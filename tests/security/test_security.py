"""Security on a real SASL_SSL Kafka and a TLS Redis with an ACL user (see conftest.py).

(a) a worker configured only through RELSCORE_* scores events produced over SASL_SSL and
    projects them into Redis over TLS as the ACL user;
(b) a wrong Kafka password (or an untrusted broker certificate) stops `relscore worker` within
    seconds, with a message that names the problem and no traceback;
(c) a wrong Redis password does not stop scoring: the projector counts its errors;
(d) no secret (also the API's bearer tokens) reaches the worker's log (stdout and stderr),
    its /metrics or a settings repr;
(e) RELSCORE_WEB_HOST=127.0.0.1 binds the web server to loopback only;
(f) relscore notify keeps webhook URLs, signing secrets and SMTP passwords out of its log,
    /metrics, /healthz, its dead letters and its refusals.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from streams.laptop.scenario import scripted_population
from streams.laptop.worker_process import WorkerProcess
from streams.settings import Settings
from streams.tools.topic_reader import latest_by_customer, read_all, wait_for
from tests.support.secure_fixtures import (
    REDIS_PASSWORD,
    SENTINEL,
    free_port,
    isolated,
    make_ca,
    produce_events,
)
from tests.support.secure_servers import TlsFiles

pytestmark = pytest.mark.integration

API_TOKENS = f"read:{SENTINEL}-api-read,operate:{SENTINEL}-api-operate"

WORKER_START_S = 120.0
FAIL_FAST_S = 60.0


def events() -> list[dict[str, object]]:
    healthy, sour, storm = scripted_population(loyal=2, churning=1, newcomers=1)
    return healthy + sour + storm


def customers_of(evts: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(e["customer_id"]) for e in evts}


def metrics_text(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def redis_scores(settings: Settings, **auth: str) -> dict[str, float]:
    """The read model's scores, read over TLS as the ACL user of ``settings.redis.url``."""
    client = redis.Redis.from_url(settings.redis.url, ssl_ca_certs=settings.redis.ca_file,
                                  socket_timeout=5, **auth)
    try:
        rows = client.zrange(f"{settings.redis.prefix}scores", 0, -1, withscores=True)
        return {bytes(member).decode(): float(score) for member, score in cast(Any, rows)}
    finally:
        client.close()


def assert_no_secret(where: str, text: str) -> None:
    assert SENTINEL not in text, f"a secret leaked into {where}:\n" + "\n".join(
        line for line in text.splitlines() if SENTINEL in line
    )


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security")


@pytest.fixture(scope="module")
def scoring(secure_stack: Settings, work_dir: Path) -> Iterator[tuple[Settings, WorkerProcess]]:
    """One worker on the secured services with the right credentials, for (a), (d), (e)."""
    settings = isolated(secure_stack, work_dir, api_tokens=API_TOKENS)
    worker = WorkerProcess(settings, work_dir / "worker-ok.log")
    try:
        worker.start().wait_ready(WORKER_START_S)
        yield settings, worker
    finally:
        worker.stop()


def test_worker_scores_over_sasl_ssl_and_projects_to_tls_redis_as_acl_user(
    scoring: tuple[Settings, WorkerProcess],
) -> None:
    settings, worker = scoring
    env = settings.to_env()
    # Configured through the environment alone (WorkerProcess passes exactly these).
    assert env["RELSCORE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["RELSCORE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["RELSCORE_REDIS_URL"].startswith("rediss://relscore:")
    assert env["RELSCORE_REDIS_CA_FILE"] == settings.kafka.ssl_cafile

    sent = events()
    produce_events(settings, sent)
    wanted = customers_of(sent)
    scores = latest_by_customer(wait_for(
        settings, settings.topics.scores,
        lambda messages: customers_of(messages) >= wanted
        and latest_by_customer(messages)["churning-0"]["score"] < 60,
        timeout=90,
    ))
    assert read_all(settings, settings.topics.alerts), "the churning customer raised no alert"

    assert scores["churning-0"]["score"] < 60
    # The read model converges to the latest score published for each customer (scores may
    # still be arriving: re-read the topic each time round).
    deadline = time.monotonic() + 30
    while (projected := redis_scores(settings)) != (expected := {
            customer: message["score"]
            for customer, message in latest_by_customer(
                read_all(settings, settings.topics.scores)).items()}):
        assert time.monotonic() < deadline, f"Redis read model {projected} != {expected}"
        time.sleep(0.3)
    assert metric(metrics_text(worker), "relscore_redis_errors_total") == 0


def test_web_host_binds_loopback_only(scoring: tuple[Settings, WorkerProcess]) -> None:
    settings, _ = scoring
    assert settings.to_env()["RELSCORE_WEB_HOST"] == "127.0.0.1"
    port = settings.web.port
    listening = _listeners(port)
    assert listening == {"127.0.0.1"}, f"port {port} listens on {listening}"
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass
    other = _other_local_address()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((other, port), 3):
        pass


def test_no_secret_in_log_metrics_or_repr(scoring: tuple[Settings, WorkerProcess]) -> None:
    settings, worker = scoring
    # The API's tokens in use: refused (401, 403) and taken, with nothing of them in the log.
    for path, headers, method in (
            ("/at-risk", {"Authorization": f"Bearer {SENTINEL}-wrong"}, "GET"),
            ("/at-risk", worker.headers(), "GET"),
            ("/alerts/x:below_threshold:2026-01-01T00:00:00Z/ack", worker.headers(), "POST")):
        request = urllib.request.Request(worker.url + path, headers=headers, method=method,
                                         data=b"" if method == "POST" else None)
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            assert_no_secret(f"the {exc.code} answer to {path}", exc.read().decode())
    assert_no_secret("/metrics", metrics_text(worker))
    assert_no_secret("repr(Settings)", repr(settings))
    assert_no_secret("str(Settings)", str(settings))
    assert worker.stop() == 0
    log = worker.log_path.read_text(errors="replace")
    assert "Authenticated as relscore via SASL / SCRAM-SHA-512" in log or "Worker ready" in log
    assert_no_secret("the worker log (stdout and stderr)", log)


def _run_worker(settings: Settings, work_dir: Path) -> tuple[int, str, str, float]:
    env = {**os.environ, **settings.to_env(), "RELSCORE_DATA_DIR": str(work_dir / "bad")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, capture_output=True,
        text=True, timeout=FAIL_FAST_S + 30, check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def test_wrong_kafka_password_fails_fast_with_a_clear_message(
    secure_stack: Settings, work_dir: Path
) -> None:
    wrong = f"{SENTINEL}-wrong-kafka"
    bad = secure_stack.override(kafka_sasl_password=wrong, web_port=free_port(),
                              app_id="relscore-wrong-password")
    code, out, err, took = _run_worker(bad, work_dir)
    assert code != 0
    assert took < FAIL_FAST_S, f"took {took:.0f} s to give up"
    assert "authentication failed" in err, err
    assert "user 'relscore'" in err and "RELSCORE_KAFKA_SASL_PASSWORD" in err, err
    assert "Traceback" not in out + err, err
    assert_no_secret("the failing worker's output", out + err)


def test_untrusted_kafka_certificate_fails_fast_with_a_clear_message(
    secure_stack: Settings, work_dir: Path
) -> None:
    other_ca, _ = make_ca(work_dir / "other-ca", "other-ca")
    bad = secure_stack.override(kafka_ssl_cafile=str(other_ca),
                              web_port=free_port(), app_id="relscore-untrusted")
    code, out, err, took = _run_worker(bad, work_dir)
    assert code != 0
    assert took < FAIL_FAST_S
    assert "certificate is not trusted" in err and "RELSCORE_KAFKA_SSL_CAFILE" in err, err
    assert "Traceback" not in out + err, err
    assert_no_secret("the failing worker's output", out + err)


def test_wrong_redis_password_keeps_scoring_and_counts_errors(
    secure_stack: Settings, work_dir: Path, tls: TlsFiles
) -> None:
    wrong = f"{SENTINEL}-wrong-redis"
    settings = isolated(
        secure_stack, work_dir,
        redis_url=secure_stack.redis.url.replace(REDIS_PASSWORD, wrong),
    )
    assert wrong in settings.redis.url
    worker = WorkerProcess(settings, work_dir / "worker-bad-redis.log")
    try:
        worker.start().wait_ready(WORKER_START_S)
        sent = events()
        produce_events(settings, sent)
        wanted = customers_of(sent)
        scores = wait_for(settings, settings.topics.scores,
                          lambda messages: customers_of(messages) >= wanted, timeout=90)
        assert scores, "scoring must not depend on Redis"
        deadline = time.monotonic() + 30
        while metric(text := metrics_text(worker), "relscore_redis_errors_total",
                     operation="write") == 0:
            assert time.monotonic() < deadline, "the projector never counted a Redis error"
            time.sleep(0.3)
        assert metric(text, "relscore_redis_pending_customers") > 0
        assert_no_secret("/metrics", text)
    finally:
        worker.stop()
    # Nothing was written, as seen by the real ACL user.
    assert redis_scores(settings.override(redis_url=secure_stack.redis.url)) == {}
    log = worker.log_path.read_text(errors="replace")
    assert "redis write of" in log and "AuthenticationError" in log, log[-3000:]
    assert_no_secret("the worker log (stdout and stderr)", log)


def _listeners(port: int) -> set[str]:
    """Local addresses with a TCP socket LISTENing on ``port`` (from /proc/net/tcp{,6})."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _other_local_address() -> str:
    """A local IPv4 address other than 127.0.0.1: the machine's own (``hostname -I``) when it
    has one, else 127.0.0.2 (also local, but not what the server bound)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5,
                             check=False).stdout
    except OSError:
        out = ""
    for item in out.split():
        if "." in item and not item.startswith("127."):
            return item
    return "127.0.0.2"


# --------------------------------------------------------------------------- relscore notify


def test_notify_over_sasl_ssl_and_tls_redis_never_shows_a_destination_secret(
        secure_stack: Settings, work_dir: Path, tmp_path: Path) -> None:
    """(f) relscore notify on the secured services: webhook URLs, signing secrets and the SMTP
    password stay out of its log, /metrics, /healthz, the dead letters and `notify --check`."""
    from streams.laptop.webhook_inbox import WebhookInbox
    from streams.laptop.worker_process import NotifyProcess
    from tests.support.notify_support import alert, produce_alerts, wait_until

    settings = isolated(secure_stack, work_dir, web_host="127.0.0.1")
    hmac_secret = f"{SENTINEL}-hmac"
    alerts = [alert(n) for n in range(3)]
    with WebhookInbox(hmac_secret) as inbox:
        routes = tmp_path / "routes.toml"
        routes.write_text(f"""
[destinations.team]
kind = "webhook"
url_env = "TEAM_URL"
secret_env = "TEAM_SECRET"

[destinations.gone]
kind = "webhook"
url_env = "GONE_URL"
timeout_s = 1
retries = 0

[destinations.mail]
kind = "email"
to = "cs@example.com"
smtp_host = "127.0.0.1"
smtp_port = {free_port()}
from = "relscore@example.com"
username = "relscore"
password_env = "SMTP_PASSWORD"
retries = 0

[[routes]]
send_to = ["team", "gone", "mail"]
""")
        env = {"TEAM_URL": f"{inbox.url}/{SENTINEL}-path?token={SENTINEL}-query",
               "TEAM_SECRET": hmac_secret,
               "GONE_URL": f"http://127.0.0.1:{free_port()}/{SENTINEL}-gone",
               "SMTP_PASSWORD": f"{SENTINEL}-smtp"}
        notify = NotifyProcess(settings.override(notify_routes=str(routes),
                                                 notify_port=free_port()),
                               work_dir / "notify.log", env)
        try:
            notify.start().wait_ready(WORKER_START_S)
            produce_alerts(settings, alerts)
            wait_until(lambda: len(inbox.answered()) == len(alerts), "the team's deliveries")
            letters = wait_for(settings, settings.topics.notify_dlq,
                               lambda messages: len(messages) == 2 * len(alerts))
            for delivery in inbox.answered():
                assert delivery.signed, "a delivery without a valid signature"
            for where, url in (("/metrics", "/metrics"), ("/healthz", "/healthz")):
                with urllib.request.urlopen(notify.url + url, timeout=10) as response:
                    assert_no_secret(where, response.read().decode())
            assert_no_secret("the notify dead letters", str(letters))
            assert {letter["destination"] for letter in letters} == {"gone", "mail"}
        finally:
            notify.stop()
        assert_no_secret("the notify log", notify.log_path.read_text(errors="replace"))
        check = subprocess.run([sys.executable, "-m", "streams.cli", "notify", "--check"],
                               env={**os.environ, **settings.override(
                                   notify_routes=str(routes)).to_env(), **env},
                               capture_output=True, text=True, timeout=60, check=False)
        assert check.returncode == 0, check.stderr
        assert_no_secret("notify --check", check.stdout + check.stderr)
        refused = subprocess.run([sys.executable, "-m", "streams.cli", "notify", "--check"],
                                 env={**os.environ, **settings.override(
                                     notify_routes=str(routes)).to_env(),
                                     **{**env, "TEAM_URL": f"ftp://{SENTINEL}"}},
                                 capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 2 and "destinations.team.url" in refused.stderr
        assert_no_secret("a refused routes file", refused.stdout + refused.stderr)
