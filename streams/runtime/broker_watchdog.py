"""Exit instead of hanging when Kafka stays unreachable (RELSCORE_BROKER_TIMEOUT_S).

Faust and aiokafka retry a vanished broker forever; an orchestrator can only restart or
page on a worker that exits. Exiting loses nothing: offsets are committed only after outputs,
so the next worker redoes what this one had in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from streams.kafka_clients import bootstrap_addresses
from streams.settings import Settings

log = logging.getLogger(__name__)

EXIT_KAFKA_UNREACHABLE = 3


async def kafka_reachable(addresses: list[tuple[str, int]], timeout: float = 3.0) -> bool:
    """True when at least one bootstrap address accepts a TCP connection."""
    for host, port in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, TimeoutError):
            continue
        writer.close()
        return True
    return False


async def watch_broker(settings: Settings) -> None:
    """Exit the process with code 3 once Kafka has been unreachable for the configured time."""
    addresses = bootstrap_addresses(settings.kafka.bootstrap)
    timeout = settings.worker.broker_timeout_s
    last_seen = time.monotonic()
    while True:
        if await kafka_reachable(addresses):
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen > timeout:
            log.error(
                "Kafka unreachable at %s for more than %.0f s (RELSCORE_BROKER_TIMEOUT_S); "
                "exiting with code %d so that the supervisor restarts this worker",
                settings.kafka.bootstrap, timeout, EXIT_KAFKA_UNREACHABLE,
            )
            logging.shutdown()
            os._exit(EXIT_KAFKA_UNREACHABLE)
        await asyncio.sleep(min(5.0, timeout / 3))
