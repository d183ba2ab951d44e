"""Security settings without services: RELSCORE_* reach every client, secrets stay hidden."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from redis.asyncio.connection import SSLConnection

from streams.kafka_clients import (
    aiokafka_client_config,
    faust_broker_credentials,
    kafka_client_config,
)
from streams.runtime.projector import redis_client
from streams.settings import Settings, SettingsError

SECRET = "S3NT1NEL-xyz"


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("not parsed by the settings\n")
    return str(path)


def secure_env(ca_file: str) -> dict[str, str]:
    return {
        "RELSCORE_KAFKA_BOOTSTRAP": "127.0.0.1:29392",
        "RELSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "RELSCORE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "RELSCORE_KAFKA_SASL_USERNAME": "relscore",
        "RELSCORE_KAFKA_SASL_PASSWORD": SECRET,
        "RELSCORE_KAFKA_SSL_CAFILE": ca_file,
        "RELSCORE_REDIS_URL": f"rediss://relscore:{SECRET}@127.0.0.1:26390/0",
        "RELSCORE_REDIS_CA_FILE": ca_file,
        "RELSCORE_WEB_HOST": "127.0.0.1",
    }


def test_secure_environment_reaches_kafka_python_aiokafka_faust_and_redis(
    ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.from_env(secure_env(ca_file))
    assert settings.web.host == "127.0.0.1"

    kp = kafka_client_config(settings.kafka)
    assert kp["security_protocol"] == "SASL_SSL"
    assert kp["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kp["sasl_plain_username"], kp["sasl_plain_password"]) == ("relscore", SECRET)
    assert kp["ssl_cafile"] == ca_file

    # The CA file is a placeholder here: check which file each client would load.
    loaded: list[str | None] = []

    def context(cafile: str | None = None) -> ssl.SSLContext:
        loaded.append(cafile)
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

    monkeypatch.setattr(ssl, "create_default_context", context)
    ak = aiokafka_client_config(settings.kafka)
    assert ak["security_protocol"] == "SASL_SSL" and ak["sasl_mechanism"] == "SCRAM-SHA-512"
    assert ak["sasl_plain_password"] == SECRET and isinstance(ak["ssl_context"], ssl.SSLContext)

    creds = faust_broker_credentials(settings.kafka)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.password == SECRET and creds.ssl_context is not None
    assert SECRET not in repr(creds)
    assert loaded == [ca_file, ca_file]

    client = redis_client(settings)
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class is SSLConnection
    assert (kwargs["username"], kwargs["password"]) == ("relscore", SECRET)
    assert kwargs["ssl_ca_certs"] == ca_file
    assert SECRET not in repr(client) and SECRET not in repr(client.connection_pool)


@pytest.mark.parametrize("url", [
    f"rediss://relscore:{SECRET}@127.0.0.1:26390/0",
    f"rediss://:{SECRET}@127.0.0.1:26390/0",
    f"rediss://relscore@127.0.0.1:26390/0?password={SECRET}&ssl_cert_reqs=required",
])
def test_settings_repr_hides_every_secret(ca_file: str, url: str) -> None:
    env = {**secure_env(ca_file), "RELSCORE_REDIS_URL": url}
    settings = Settings.from_env(env)
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert SECRET not in text
        assert "127.0.0.1:26390" in text and "sasl_username='relscore'" in text
    assert "ssl_cert_reqs=required" in repr(settings) or "?" not in url


def test_redis_url_without_secret_is_shown_as_is() -> None:
    settings = Settings().override(redis_url="redis://localhost:16379/0?socket_timeout=5")
    assert "url='redis://localhost:16379/0?socket_timeout=5'" in repr(settings)


def test_refusals_name_the_variable_never_the_secret(ca_file: str, tmp_path: Path) -> None:
    env = secure_env(ca_file)
    cases = {
        "RELSCORE_KAFKA_SSL_CAFILE": {**env, "RELSCORE_KAFKA_SSL_CAFILE": str(tmp_path / "no")},
        "RELSCORE_REDIS_CA_FILE": {**env, "RELSCORE_REDIS_CA_FILE": str(tmp_path / "no")},
        "rediss://": {**env, "RELSCORE_REDIS_URL": f"redis://u:{SECRET}@127.0.0.1:1/0"},
        "RELSCORE_KAFKA_SASL_MECHANISM": {**env, "RELSCORE_KAFKA_SASL_MECHANISM": ""},
        "RELSCORE_KAFKA_SECURITY_PROTOCOL": {**env, "RELSCORE_KAFKA_SECURITY_PROTOCOL": "TLS"},
    }
    for expected, case in cases.items():
        with pytest.raises(SettingsError) as info:
            Settings.from_env(case)
        assert expected in str(info.value)
        assert SECRET not in str(info.value)
