"""Sentinel tests: no secret in repr/str of Settings, in the redacted Redis URL, in refusals, or
in the log lines and tracebacks of a worker whose SASL password is wrong.

Every secret starts with SENTINEL, so a test only has to look for that string (and its
percent-encoded form) in whatever was printed. These tests need no broker: the wrong-password
case is played by making the Kafka connection fail the way aiokafka reports a refused SASL
login, and by real sockets that are not Kafka at all. The same check against a real SASL_SSL
broker lives in tests/security (test_wrong_kafka_password_fails_fast_with_a_clear_message).
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from urllib.parse import quote, quote_plus, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scorers.config import DEFAULT_CONFIG
from streams.kafka_clients import KafkaLoginError, check_kafka_login
from streams.settings import Settings, SettingsError, redact_url

SENTINEL = "S3NT1NEL"
KAFKA_PASSWORD = f"{SENTINEL}-kafka-7d1"
REDIS_PASSWORD = f"{SENTINEL}-redis-4c2"
API_TOKENS = f"read:{SENTINEL}-api-r1,operate:{SENTINEL}-api-o1"


def forms(secret: str) -> set[str]:
    """The ways a secret can show up in text: as is, percent-encoded, form-encoded."""
    return {secret, quote(secret, safe=""), quote_plus(secret), SENTINEL}


def assert_hidden(what: str, text: str, secret: str = SENTINEL) -> None:
    for form in forms(secret):
        assert form not in text, f"{what} shows a secret ({form!r}): {text}"


def sasl_settings(**changes: object) -> Settings:
    base = Settings().override(
        kafka_bootstrap="127.0.0.1:9",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="relscore",
        kafka_sasl_password=KAFKA_PASSWORD,
        redis_url=f"redis://relscore:{REDIS_PASSWORD}@localhost:16379/0",
        web_host="127.0.0.1",
        api_tokens=API_TOKENS,
    )
    return base.override(**changes)


def all_renderings(value: object) -> list[str]:
    return [repr(value), str(value), f"{value}", f"{value!r}", format(value)]


# ---------------------------------------------------------------- repr / str of Settings

WELL_FORMED = [
    f"redis://relscore:{REDIS_PASSWORD}@localhost:16379/0",
    f"rediss://:{REDIS_PASSWORD}@redis.example.com:6380/1",
    f"rediss://default:{REDIS_PASSWORD}@redis.example.com",
    f"redis://relscore@localhost:16379/0?password={REDIS_PASSWORD}",
    f"redis://localhost:16379/0?PASSWORD={REDIS_PASSWORD}&socket_timeout=5",
    f"redis://u:{REDIS_PASSWORD}@localhost:16379/0?password={REDIS_PASSWORD}",
    f"redis://u:{quote(REDIS_PASSWORD + '@:%!', safe='')}@localhost:16379/0",
    f"redis://u:{REDIS_PASSWORD}@localhost:16379/0#note",
    f"unix://:{REDIS_PASSWORD}@/run/redis/redis.sock?db=0",
    f"unix:///run/redis/redis.sock?db=0&password={REDIS_PASSWORD}",
    f"redis://:{REDIS_PASSWORD}@[::1]:6379/0",
]


@pytest.mark.parametrize("url", WELL_FORMED)
def test_repr_and_str_of_settings_hide_both_passwords(url: str) -> None:
    settings = sasl_settings(redis_url=url)
    for text in all_renderings(settings):
        assert_hidden("Settings", text)
        assert "sasl_username='relscore'" in text, "the user name is not a secret"
    copy = settings.override(app_id="other")
    for text in all_renderings(copy):
        assert_hidden("a copy of Settings", text)


def test_settings_from_the_environment_hide_both_passwords() -> None:
    env = {
        "RELSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "RELSCORE_KAFKA_SASL_MECHANISM": "PLAIN",
        "RELSCORE_KAFKA_SASL_USERNAME": "relscore",
        "RELSCORE_KAFKA_SASL_PASSWORD": KAFKA_PASSWORD,
        "RELSCORE_REDIS_URL": f"redis://relscore:{REDIS_PASSWORD}@localhost:16379/0",
    }
    settings = Settings.from_env(env)
    assert settings.kafka.sasl_password == KAFKA_PASSWORD  # kept, for the clients
    for text in all_renderings(settings):
        assert_hidden("Settings.from_env", text)


@pytest.mark.parametrize("url", WELL_FORMED)
def test_the_redacted_redis_url_hides_the_password_and_keeps_the_rest(url: str) -> None:
    redacted = redact_url(url)
    assert_hidden("the redacted Redis URL", redacted)
    assert redact_url(redacted) == redacted, "redacting twice must change nothing"
    before, after = urlsplit(url), urlsplit(redacted)
    assert after.scheme == before.scheme
    assert after.username == before.username
    assert (after.hostname, after.port) == (before.hostname, before.port)
    assert after.path == before.path or after.path.lstrip("/") == before.path.lstrip("/")


def test_a_url_without_secret_is_shown_unchanged() -> None:
    url = "redis://localhost:16379/0?socket_timeout=5"
    assert redact_url(url) == url


@settings(max_examples=200, deadline=None)
@given(tail=st.text(min_size=0, max_size=24), user=st.sampled_from(["", "relscore", "a.b-c"]),
       where=st.sampled_from(["netloc", "query"]))
def test_any_password_properly_encoded_in_the_url_is_hidden(
        tail: str, user: str, where: str) -> None:
    """Whatever characters a password holds, percent-encoded as RFC 3986 requires, neither
    it nor its encoding reaches repr(Settings)."""
    password = SENTINEL + tail
    encoded = quote(password, safe="")
    if where == "netloc":
        url = f"redis://{user}:{encoded}@localhost:16379/0"
    else:
        url = f"redis://{user + '@' if user else ''}localhost:16379/0?password={encoded}"
    text = repr(sasl_settings(redis_url=url))
    assert_hidden("repr(Settings)", text, password)


@pytest.mark.parametrize("char", ["/", "?", "#"])
def test_a_password_with_an_unencoded_reserved_character_is_hidden_too(char: str) -> None:
    """Generated passwords often hold '/', '?' or '#'. Left unencoded in the URL they end
    the authority part for urlsplit, so the password is no longer seen as one; the Settings
    repr (what a log shows) must still not print it."""
    url = f"redis://relscore:{SENTINEL}{char}x1@localhost:16379/0"
    assert_hidden("repr(Settings)", repr(sasl_settings(redis_url=url)))


@pytest.mark.parametrize("url", [
    f"redis://u:{REDIS_PASSWORD}@localhost:notaport/0",
    f"redis://u:{REDIS_PASSWORD}@[::1/0",
])
def test_repr_of_settings_with_a_malformed_redis_url_neither_raises_nor_leaks(url: str) -> None:
    """Settings.from_env accepts any RELSCORE_REDIS_URL; printing those settings (in an
    error message, a log line) must not raise, and must not show the password."""
    text = repr(sasl_settings(redis_url=url))
    assert_hidden("repr(Settings)", text)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(("variable", "value"), [
    ("RELSCORE_WEB_PORT", "not-a-port"),
    ("RELSCORE_PARTITIONS", "four"),
    ("RELSCORE_SESSION_TIMEOUT_S", "soon"),
    ("RELSCORE_KAFKA_SECURITY_PROTOCOL", "SASL_TLS"),
    ("RELSCORE_KAFKA_SASL_MECHANISM", ""),
    ("RELSCORE_KAFKA_SASL_USERNAME", ""),
    ("RELSCORE_MAX_PAYLOAD_BYTES", "12"),
])
def test_refused_settings_name_the_variable_never_a_secret(variable: str, value: str) -> None:
    env = {
        "RELSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "RELSCORE_KAFKA_SASL_MECHANISM": "PLAIN",
        "RELSCORE_KAFKA_SASL_USERNAME": "relscore",
        "RELSCORE_KAFKA_SASL_PASSWORD": KAFKA_PASSWORD,
        "RELSCORE_REDIS_URL": f"redis://relscore:{REDIS_PASSWORD}@localhost:16379/0",
        variable: value,
    }
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert_hidden("the refusal", message)
    assert_hidden("the refusal's traceback", "".join(traceback.format_exception(info.value)))
    named = variable if value else "RELSCORE_KAFKA_SASL"
    assert named in message, message


# ---------------------------------------------------------------- a wrong SASL password

# What aiokafka raises when the broker refuses the login (the broker's own words).
REFUSAL = ("Authentication failed during authentication due to invalid credentials with SASL "
           "mechanism SCRAM-SHA-512")


@pytest.fixture
def refused_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Kafka connection fails as a broker refusing the SASL login would make it."""
    import aiokafka.conn
    from aiokafka.errors import SaslAuthenticationFailed

    async def refuse(*args: object, **kwargs: object) -> None:
        raise SaslAuthenticationFailed(REFUSAL)

    monkeypatch.setattr(aiokafka.conn, "create_conn", refuse)


def test_a_refused_login_names_the_user_and_the_variables_never_the_password(
        refused_login: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KafkaLoginError) as info:
        check_kafka_login(sasl_settings().kafka, "relscore", timeout_s=5)
    message = str(info.value)
    assert "authentication failed" in message and "'relscore'" in message
    assert "RELSCORE_KAFKA_SASL_PASSWORD" in message
    for text in (message, repr(info.value), "".join(traceback.format_exception(info.value))):
        assert_hidden("the login error", text)
    for record in caplog.records:
        assert_hidden("a log line", record.getMessage())


def test_the_worker_refuses_to_start_and_logs_no_secret(
        refused_login: None, caplog: pytest.LogCaptureFixture) -> None:
    """`relscore worker` with a wrong password: exit code 2, one clear error line, and no
    secret in any log line or traceback (run_worker is what the CLI command calls)."""
    from streams.runtime.worker import run_worker

    caplog.set_level(logging.DEBUG)
    assert run_worker(sasl_settings(), DEFAULT_CONFIG) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("authentication failed" in r.getMessage() for r in errors), caplog.text
    for record in caplog.records:
        assert_hidden("a log line", record.getMessage())
        if record.exc_info:
            assert_hidden("a logged traceback",
                          "".join(traceback.format_exception(*record.exc_info)))
    assert_hidden("the captured log", caplog.text)


@pytest.fixture(params=["close", "garbage"])
def not_kafka(request: pytest.FixtureRequest) -> Iterator[str]:
    """A local TCP server that is not Kafka: it hangs up at once, or answers garbage."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                if request.param == "garbage":
                    try:
                        conn.settimeout(1)
                        conn.recv(4096)
                        conn.sendall(b"\x00\x00\x00\x0bnot kafka!!")
                    except OSError:
                        pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    server.close()


def test_a_login_against_something_that_is_not_kafka_logs_no_secret(
        not_kafka: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        check_kafka_login(sasl_settings(kafka_bootstrap=not_kafka).kafka, "relscore",
                          timeout_s=2)
    except KafkaLoginError as exc:
        assert_hidden("the login error", "".join(traceback.format_exception(exc)))
    for record in caplog.records:
        assert_hidden("a log line", record.getMessage())
    assert_hidden("the captured log", caplog.text)
