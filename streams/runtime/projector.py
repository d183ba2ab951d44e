"""The Redis read model: a projection of the ``relationship-scores`` and alert topics.

The projector has its own consumer group, apart from the scoring agent, so a slow or absent
Redis never stalls scoring. It keeps at most one pending record per customer (the latest
score) and one per customer and event-time day (the day's last score, for the history),
writes them in pipelined batches, and commits its offsets only after Redis has them: after a
Redis outage or a crash it resumes from the last written offset and converges, since every
write is an overwrite or an idempotent put (:mod:`streams.runtime.history`).

Keys (prefix from ``RELSCORE_REDIS_PREFIX``):
``{prefix}customer:{id}`` hash of the latest score message (nested fields as JSON),
``{prefix}scores`` sorted set of every customer by score,
``{prefix}at_risk`` sorted set of customers currently below the alert threshold,
``{prefix}ids`` lex-ordered set of every customer id (prefix search),
``{prefix}history:{id}``, ``{prefix}alerts:{id}`` the daily points and the alerts
(:mod:`streams.runtime.history`), ``{prefix}population`` customers per band per day
(:mod:`streams.runtime.population`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Mapping
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from redis.exceptions import RedisError

from streams.kafka_clients import aiokafka_client_config
from streams.runtime import metrics
from streams.runtime.history import (
    HISTORY_DAYS,
    MAX_ALERTS,
    POINTS_PER_CALL,
    PUT_ALERT,
    PUT_POINT,
    alert_member,
    alerts_key,
    encode_point,
    history_key,
)
from streams.runtime.population import SNAPSHOT, band_floors, population_key
from streams.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


def redis_client(settings: Settings) -> aioredis.Redis:
    """An asyncio Redis client for ``RELSCORE_REDIS_URL`` (``redis://`` or ``rediss://``);
    a ``rediss://`` server is verified against ``RELSCORE_REDIS_CA_FILE`` when that is set."""
    tls: dict[str, Any] = {}
    if settings.redis.ca_file:
        tls["ssl_ca_certs"] = settings.redis.ca_file
    return aioredis.Redis.from_url(
        settings.redis.url, socket_timeout=5, socket_connect_timeout=5,
        health_check_interval=30, **tls,
    )


def customer_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}customer:{customer_id}"


def ids_key(prefix: str) -> str:
    return f"{prefix}ids"


def hash_fields(message: Mapping[str, Any]) -> dict[str, str]:
    """A score message as a flat Redis hash: scalars as text, nested values as JSON."""
    fields: dict[str, str] = {}
    for name, value in message.items():
        if isinstance(value, dict | list):
            fields[name] = orjson.dumps(value).decode()
        elif value is None:
            fields[name] = ""
        else:
            fields[name] = str(value)
    return fields


# Members per sorted-set command: one command for many customers costs the client a fraction
# of one per customer (redis-py packs every command in Python).
MEMBERS_PER_COMMAND = 1000


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i:i + MEMBERS_PER_COMMAND] for i in range(0, len(items), MEMBERS_PER_COMMAND)]


def queue_batch(pipe: Any, prefix: str, threshold: float,
                batch: Mapping[str, Mapping[str, Any]]) -> None:
    """Queue on ``pipe`` the latest score message of each customer in ``batch``: its hash,
    then the sorted sets, many customers per command."""
    at_risk: list[tuple[str, float]] = []
    safe: list[str] = []
    for customer, message in batch.items():
        key = customer_key(prefix, customer)
        pipe.delete(key)
        pipe.hset(key, mapping=cast(Any, hash_fields(message)))
        # At risk: under the threshold with the evidence to page (not on alert_hold).
        if message["score"] < threshold and not message.get("alert_hold"):
            at_risk.append((customer, message["score"]))
        else:
            safe.append(customer)
    for chunk in _chunks(list(batch.items())):
        pipe.zadd(f"{prefix}scores", {customer: message["score"] for customer, message in
                                      chunk})
        pipe.zadd(ids_key(prefix), dict.fromkeys((customer for customer, _ in chunk), 0))
    for risky in _chunks(at_risk):
        pipe.zadd(f"{prefix}at_risk", dict(risky))
    for fine in _chunks(safe):
        pipe.zrem(f"{prefix}at_risk", *fine)


class Scripts:
    """The read model's Lua scripts, registered on one client (EVALSHA, loaded on demand)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.put_point = client.register_script(PUT_POINT)
        self.put_alert = client.register_script(PUT_ALERT)
        self.snapshot = client.register_script(SNAPSHOT)


async def write_history(pipe: Any, scripts: Scripts, prefix: str,
                        points: Mapping[tuple[str, int], str],
                        alerts: Mapping[str, tuple[str, int, str]]) -> None:
    """Queue the daily points ``(customer, day) -> element`` and the alerts
    ``alert_id -> (customer, as_of ms, member)`` on ``pipe``."""
    items = list(points.items())
    for start in range(0, len(items), POINTS_PER_CALL):
        chunk = items[start:start + POINTS_PER_CALL]
        await scripts.put_point(keys=[history_key(prefix, customer) for (customer, _), _ in chunk],
                                args=[HISTORY_DAYS, *(element for _, element in chunk)],
                                client=pipe)
    for alert_id, (customer, ms, member) in alerts.items():
        await scripts.put_alert(keys=[alerts_key(prefix, customer)],
                                args=[ms, alert_id, member, MAX_ALERTS], client=pipe)


class RedisProjector:
    """Consumes the score and alert topics and keeps the Redis read model up to date."""

    def __init__(self, settings: Settings, threshold: float, *, batch_size: int = 500,
                 max_pending: int = 200_000) -> None:
        self.settings = settings
        self.threshold = threshold
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.pending: dict[str, dict[str, Any]] = {}
        self.points: dict[tuple[str, int], str] = {}  # (customer, day) -> its last point
        self.alerts: dict[str, tuple[str, int, str]] = {}  # alert_id -> customer, ms, member
        # Records fetched but not yet taken: taking stops where event time enters a later
        # day, so that the population of the day that ended is counted before it moves on.
        self.carry: list[tuple[TopicPartition, bytes | None, bytes | None, int]] = []
        self.event_day: int | None = None  # the UTC day of the latest as_of read
        self.day_ended: tuple[int, int] | None = None  # (ended day, new day) to snapshot
        self.offsets: dict[TopicPartition, int] = {}
        self.failures = 0
        # Check the per-partition markers (is Redis still holding what we wrote?) at start and
        # after every outage: a Redis that came back empty is rebuilt from the compacted topic.
        self.check_markers = True

    async def run(self) -> None:
        """Project until cancelled."""
        consumer = AIOKafkaConsumer(
            self.settings.topics.scores, self.settings.topics.alerts,
            group_id=f"{self.settings.worker.app_id}-redis-projector",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **aiokafka_client_config(self.settings.kafka),
        )
        try:
            await consumer.start()
        except KafkaError:
            await consumer.stop()
            raise
        client = redis_client(self.settings)
        self.scripts = Scripts(client)
        try:
            while True:
                await self._step(consumer, client)
        finally:
            await consumer.stop()
            await client.aclose()

    def _marker(self, tp: TopicPartition) -> str:
        return f"{self.settings.redis.prefix}projected:{tp.topic}:{tp.partition}"

    async def _resync_if_wiped(self, consumer: AIOKafkaConsumer, client: aioredis.Redis) -> bool:
        """Re-project the partitions whose marker is gone; False while no partition is
        assigned (check once one is). Raises RedisError or OSError when Redis cannot be
        asked; until the check has run nothing may be written, as a write would set the
        markers again and hide that Redis came back empty."""
        assigned = sorted(consumer.assignment())
        if not assigned:
            return False
        present = [await client.exists(self._marker(tp)) for tp in assigned]
        for tp, exists in zip(assigned, present, strict=True):
            if not exists and await consumer.position(tp) > 0:
                log.warning("read model for %s[%d] is missing in Redis; re-projecting it",
                            tp.topic, tp.partition)
                await consumer.seek_to_beginning(tp)
                self.offsets.pop(tp, None)
                self.carry = [item for item in self.carry if item[0] != tp]
        self.check_markers = False
        return True

    async def _step(self, consumer: AIOKafkaConsumer, client: aioredis.Redis) -> None:
        checked = not self.check_markers
        failed: RedisError | OSError | None = None
        if not checked:
            try:
                checked = await self._resync_if_wiped(consumer, client)
            except (RedisError, OSError) as exc:  # down, refused or a stale connection
                failed = exc
        if len(self.pending) < self.max_pending and not self.carry and not self.day_ended:
            batches = await consumer.getmany(timeout_ms=200, max_records=self.batch_size)
            self.carry = [(tp, record.key, record.value, record.offset)
                          for tp, records in batches.items() for record in records]
        self._take_carried()
        metrics.REDIS_PENDING.set(self._pending_customers())
        if not self._has_pending():
            if self.day_ended:
                if not (checked and failed is None and await self._snapshot(client)):
                    await asyncio.sleep(min(MAX_BACKOFF_S, 0.2 * 2 ** min(self.failures, 8)))
                return
            if self.offsets:
                await self._commit(consumer)
            return
        if failed is not None:
            # The check is the write's first step: Redis could not take the batch.
            self._write_failed(len(self.pending), failed)
        elif checked and await self._flush(client):
            await self._commit(consumer)
            return
        await asyncio.sleep(min(MAX_BACKOFF_S, 0.2 * 2 ** min(self.failures, 8)))

    def _pending_customers(self) -> int:
        """Customers whose latest score read is not in Redis yet: pending, or carried
        (fetched, waiting for an ended day's snapshot, which an outage can hold up)."""
        scores = self.settings.topics.scores
        carried = {key.decode(errors="replace") for tp, key, _, _ in self.carry
                   if key is not None and tp.topic == scores}
        return len(carried | self.pending.keys())

    def _has_pending(self) -> bool:
        return bool(self.pending or self.points or self.alerts)

    def _take_carried(self) -> None:
        """Take the carried records in order, up to the first one whose event time is in a
        later day than the projector's (that one waits for the ended day's snapshot)."""
        taken = 0
        while taken < len(self.carry) and self.day_ended is None:
            tp, _, value, offset = self.carry[taken]
            if tp.topic == self.settings.topics.alerts:
                self._take_alert(value)
            elif not self._take(value):
                break
            self.offsets[tp] = offset + 1
            taken += 1
        del self.carry[:taken]

    def _take(self, value: bytes | None) -> bool:
        """Take one score record; False (not taken) when it starts a later event-time day."""
        if not value:
            return True
        try:
            message = orjson.loads(value)
            customer = message["customer_id"]
            float(message["score"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            metrics.REDIS_ERRORS.labels("decode").inc()
            return True
        try:
            day, _, element = encode_point(message)
        except (KeyError, TypeError, ValueError):
            metrics.REDIS_ERRORS.labels("decode").inc()
        else:
            if self.event_day is None:
                self.event_day = day
            elif day > self.event_day:
                self.day_ended = (self.event_day, day)
                return False
            self.points[(str(customer), day)] = element
        self.pending[customer] = message
        return True

    def _take_alert(self, value: bytes | None) -> None:
        if not value:
            return
        try:
            alert = orjson.loads(value)
            customer = str(alert["customer_id"])
            ms, alert_id, member = alert_member(alert)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            metrics.REDIS_ERRORS.labels("decode").inc()
            return
        self.alerts[alert_id] = (customer, ms, member)

    async def _snapshot(self, client: aioredis.Redis) -> bool:
        """Count the customers per band for the day(s) that ended, then move to the new day."""
        assert self.day_ended is not None
        ended, new = self.day_ended
        prefix = self.settings.redis.prefix
        try:
            await self.scripts.snapshot(
                keys=[f"{prefix}scores", population_key(prefix)],
                args=[ended, new - 1, HISTORY_DAYS, *band_floors()], client=client)
        except (RedisError, OSError) as exc:
            self._write_failed(0, exc)
            return False
        self.event_day, self.day_ended = new, None
        return True

    async def _flush(self, client: aioredis.Redis) -> bool:
        started = time.perf_counter()
        batch = self.pending
        markers = [self._marker(tp) for tp in self.offsets]
        prefix = self.settings.redis.prefix
        try:
            async with client.pipeline(transaction=False) as pipe:
                queue_batch(pipe, prefix, self.threshold, batch)
                await write_history(pipe, self.scripts, prefix, self.points, self.alerts)
                await pipe.execute()
            if markers:
                await client.mset(dict.fromkeys(markers, b"1"))
        except (RedisError, OSError) as exc:
            self._write_failed(len(batch), exc)
            return False
        if self.failures:
            log.info("redis is back after %d failed writes; read model catching up",
                     self.failures)
        self.failures = 0
        metrics.REDIS_WRITE_SECONDS.observe(time.perf_counter() - started)
        metrics.REDIS_WRITES.inc(len(batch))
        self.pending, self.points, self.alerts = {}, {}, {}
        metrics.REDIS_PENDING.set(self._pending_customers())
        return True

    def _write_failed(self, customers: int, exc: RedisError | OSError) -> None:
        self.failures += 1
        self.check_markers = True
        metrics.REDIS_ERRORS.labels("write").inc()
        if self.failures == 1 or self.failures % 50 == 0:
            log.warning("redis write of %d customers failed (%s); retrying with backoff",
                        customers, exc.__class__.__name__)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        offsets, self.offsets = self.offsets, {}
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - a failed commit only means re-projection
            log.warning("projector offset commit failed (%s); records will be re-projected",
                        exc.__class__.__name__)


async def run_projector(settings: Settings, threshold: float) -> None:
    """Run the projector on its own (``relscore project``) until SIGTERM or SIGINT."""
    task = asyncio.create_task(RedisProjector(settings, threshold).run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    log.info("projecting %s into Redis (prefix %r)", settings.topics.scores,
             settings.redis.prefix)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("projector stopped")
