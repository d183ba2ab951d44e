"""How every Kafka client of relscore connects: kafka-python, aiokafka and Faust.

One place turns :class:`streams.settings.KafkaConnection` (``RELSCORE_KAFKA_*``: bootstrap,
security protocol, SASL, TLS) into each client's own arguments, so that a security setting
reaches the worker, the projector, the page, the tools and the tests alike.

>>> from streams.settings import KafkaConnection
>>> kafka_client_config(KafkaConnection(bootstrap="k1:9092,k2:9092"))
{'bootstrap_servers': ['k1:9092', 'k2:9092'], 'security_protocol': 'PLAINTEXT'}
>>> faust_broker_urls(KafkaConnection(bootstrap="k1:9092,k2:9092"))
['kafka://k1:9092', 'kafka://k2:9092']
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

import faust

from streams.settings import KafkaConnection


class KafkaSetupError(RuntimeError):
    """Kafka cannot be used as configured; the message says why and what to change."""


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap string (default port 9092).

    >>> bootstrap_addresses("k1:9093, k2")
    [('k1', 9093), ('k2', 9092)]
    """
    addresses = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        addresses.append((host or item.strip(), int(port) if port.isdigit() else 9092))
    return addresses


def _tls_context(kafka: KafkaConnection) -> ssl.SSLContext | None:
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        return ssl.create_default_context(cafile=kafka.ssl_cafile)
    return None


def kafka_client_config(kafka: KafkaConnection) -> dict[str, Any]:
    """kafka-python connection settings (bootstrap and security) from ``kafka``."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap.split(","),
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        config["sasl_mechanism"] = kafka.sasl_mechanism
        config["sasl_plain_username"] = kafka.sasl_username
        config["sasl_plain_password"] = kafka.sasl_password
    if kafka.ssl_cafile:
        config["ssl_cafile"] = kafka.ssl_cafile
    return config


def aiokafka_client_config(kafka: KafkaConnection) -> dict[str, Any]:
    """aiokafka connection settings (bootstrap and security) from ``kafka``."""
    config: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl_mechanism:
        config["sasl_mechanism"] = kafka.sasl_mechanism
        config["sasl_plain_username"] = kafka.sasl_username
        config["sasl_plain_password"] = kafka.sasl_password
    context = _tls_context(kafka)
    if context is not None:
        config["ssl_context"] = context
    return config


def faust_broker_urls(kafka: KafkaConnection) -> list[str]:
    """Faust's ``broker`` argument: one ``kafka://host:port`` URL per bootstrap server."""
    return [f"kafka://{host.strip()}" for host in kafka.bootstrap.split(",")]


def faust_broker_credentials(kafka: KafkaConnection) -> Any:
    """Faust's ``broker_credentials`` for SASL/SSL settings, or None for PLAINTEXT."""
    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = _tls_context(kafka)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=ssl_context,
        )
    return faust.SSLCredentials(ssl_context)


class KafkaLoginError(KafkaSetupError):
    """Kafka answers but refuses the TLS handshake or the SASL login of these settings."""


def check_kafka_login(kafka: KafkaConnection, client_id: str, timeout_s: float = 15.0) -> None:
    """Fail fast, with a message naming the problem, when Kafka refuses our TLS or SASL login.

    kafka-python's admin client retries a failed SASL login until its bootstrap timeout and
    then reports only a timeout ("cannot reach Kafka"), so a wrong password looked like a
    broker outage. One connection with aiokafka (the client Faust uses) gets the broker's own
    answer. Does nothing for PLAINTEXT; an unreachable broker is left to the caller's client.
    The message names the user and the variables to check, never the password.
    """
    if kafka.security_protocol == "PLAINTEXT":
        return
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_login_once(kafka, client_id, timeout_s))
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome.append(exc)

    # A thread of its own, so this works whether or not the caller runs an event loop.
    thread = threading.Thread(target=run, name="relscore-kafka-login-check", daemon=True)
    thread.start()
    thread.join(timeout_s * 3)
    if outcome:
        raise outcome[0]


async def _login_once(kafka: KafkaConnection, client_id: str, timeout_s: float) -> None:
    from aiokafka import errors as aerrors
    from aiokafka.conn import create_conn

    config = aiokafka_client_config(kafka)
    del config["bootstrap_servers"]
    protocol = kafka.security_protocol
    for host, port in bootstrap_addresses(kafka.bootstrap):
        where = f"Kafka at {host}:{port}"
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, client_id=f"{client_id}-login-check",
                            request_timeout_ms=int(timeout_s * 1000), **config),
                timeout_s,
            )
        except ssl.SSLCertVerificationError as exc:
            raise KafkaLoginError(
                f"TLS handshake with {where} failed: the broker's certificate is not trusted "
                f"({exc.verify_message}); set RELSCORE_KAFKA_SSL_CAFILE to the CA that signed "
                "it and check that the certificate names the host in RELSCORE_KAFKA_BOOTSTRAP"
            ) from None
        except ssl.SSLError as exc:
            raise KafkaLoginError(
                f"TLS handshake with {where} failed ({exc.reason or exc.__class__.__name__}); "
                f"is that listener {protocol}? Check RELSCORE_KAFKA_SECURITY_PROTOCOL"
            ) from None
        except (aerrors.SaslAuthenticationFailed, aerrors.AuthenticationFailedError,
                aerrors.IllegalSaslStateError) as exc:
            detail = str(exc) or exc.__class__.__name__
            raise KafkaLoginError(
                f"authentication failed: {where} refused the SASL "
                f"{kafka.sasl_mechanism} login of user "
                f"{kafka.sasl_username!r} ({detail}); check "
                "RELSCORE_KAFKA_SASL_USERNAME and RELSCORE_KAFKA_SASL_PASSWORD"
            ) from None
        except aerrors.UnsupportedSaslMechanismError as exc:
            raise KafkaLoginError(
                f"{where} does not accept RELSCORE_KAFKA_SASL_MECHANISM="
                f"{kafka.sasl_mechanism} ({exc})"
            ) from None
        except (OSError, TimeoutError, aerrors.KafkaError):
            continue  # not reachable (or not answering): try the next bootstrap address
        conn.close()
        return


