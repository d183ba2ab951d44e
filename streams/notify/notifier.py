"""``relscore notify``: alerts from the alerts topic to the destinations their routes name.

One consumer group of its own reads the alerts topic; the worker never waits on it. Each
alert is routed (owners from the owners topic, routes from the routes file) and put on the
queue of every destination it goes to. Each destination has its own queue and task, so a slow
or failing one holds back no other; within a destination alerts go out in the order read.

Once per alert and destination:

1. the delivery log (Redis) is asked whether the pair is done; a redelivered or replayed
   alert finds it done and is not sent again;
2. the notification is sent, retried with backoff, under the alert id as idempotency key;
3. a destination that refuses it or keeps failing gets it dead-lettered with the reason;
4. the pair is recorded as done in the delivery log;
5. the group's offsets are committed only past alerts done at every destination.

A crash between 2 and 4 sends that one notification again on restart, with the same
idempotency key; nothing before 4 is lost, since its alert's offset was not committed.

Snoozes (from the alert-actions topic): a snoozed customer's new alerts are held until the
snooze ends. Then those after the customer's last held ``recovered`` alert are sent, and the
others (the fall and the recovery nobody needed to hear of) are dropped, recorded as such
in the delivery log. Held alerts keep their partition's committed offset behind them, so a
restart reads them again and holds them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition
from redis.exceptions import RedisError

from scorers.alerts import RECOVERED
from streams.kafka_clients import aiokafka_client_config
from streams.notify import metrics
from streams.notify.courier import deliver, email_address
from streams.notify.dead_letter import not_an_alert, undeliverable
from streams.notify.delivery_log import DEAD_LETTERED, DELIVERED, DIGESTED, DROPPED, DeliveryLog
from streams.notify.digest import DigestBook, digest_day, digest_due, digest_id, unique_entries
from streams.notify.email_sender import send_with_retries
from streams.notify.messages import digest_email
from streams.notify.offset_ledger import OffsetLedger
from streams.notify.owners import Owner
from streams.notify.routes import Destination, Routing
from streams.notify.webhook_sender import Sleep
from streams.runtime.alert_actions import ActionBook, apply_action
from streams.runtime.owner_directory import OwnerDirectory
from streams.runtime.projector import redis_client
from streams.runtime.topic_follower import follow_topic
from streams.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
COMMIT_INTERVAL_S = 1.0
MAX_STORE_BACKOFF_S = 30.0
# /healthz fails when the consuming loop has not come round for this long.
STALL_S = 30.0
# A digest destination looks for digests due once its queue has been idle this long, and at
# least this often while it is busy.
DIGEST_IDLE_S = 2.0
DIGEST_BUSY_S = 600.0


@dataclass(frozen=True, slots=True)
class Job:
    """One alert for one destination, and where the alert was read; ``drop``: record it as
    dropped instead of sending it."""

    partition: TopicPartition
    offset: int
    alert: dict[str, Any]
    owner: Owner | None
    drop: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """An alert of a snoozed customer, and the destinations it waits for."""

    partition: TopicPartition
    offset: int
    alert: dict[str, Any]
    owner: Owner | None
    destinations: tuple[str, ...]


def release(held: list[Held]) -> tuple[list[Held], list[Held]]:
    """A customer's held alerts once the snooze ends: (to send, to drop). Everything up to
    and including the last ``recovered`` alert is dropped: the customer came back meanwhile.

    >>> def held(kind): return Held(TopicPartition("alerts", 0), 0, {"type": kind}, None, ())
    >>> send, drop = release([held("below_threshold"), held("recovered"), held("sharp_drop")])
    >>> [h.alert["type"] for h in send], [h.alert["type"] for h in drop]
    (['sharp_drop'], ['below_threshold', 'recovered'])
    """
    last = max((n for n, h in enumerate(held) if h.alert.get("type") == RECOVERED), default=-1)
    return held[last + 1:], held[:last + 1]


def read_alert(value: bytes | None) -> dict[str, Any]:
    """An alert record's value, checked for the fields routing and sending need.

    >>> read_alert(b'{"alert_id": "a1", "customer_id": "c-1", "type": "recovered"}')["type"]
    'recovered'
    >>> read_alert(b'{"customer_id": "c-1"}')
    Traceback (most recent call last):
    ...
    ValueError: missing or empty alert_id
    """
    if not value:
        raise ValueError("empty record")
    alert = orjson.loads(value)
    if not isinstance(alert, dict):
        raise ValueError("not a JSON object")
    for name in ("alert_id", "customer_id", "type"):
        if not isinstance(alert.get(name), str) or not alert[name]:
            raise ValueError(f"missing or empty {name}")
    return alert


class Notifier:
    """The notify service: consume, route, queue per destination, deliver, commit."""

    def __init__(self, settings: Settings, routing: Routing, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.settings = settings
        self.routing = routing
        self.sleep = sleep
        self.owners = OwnerDirectory(metrics.OWNERS.set)
        self.actions = ActionBook()
        self.actions_ready = asyncio.Event()
        self.held: dict[str, list[Held]] = {}
        self.ledger: OffsetLedger[TopicPartition] = OffsetLedger()
        self.queues: dict[str, asyncio.Queue[Job]] = {
            name: asyncio.Queue() for name in routing.destinations}
        self.ready = asyncio.Event()
        self.settled = asyncio.Event()
        self.last_poll = time.monotonic()
        self._committed: dict[TopicPartition, int] = {}
        self._busy: set[str] = set()
        self.delivery_log: DeliveryLog | None = None
        self.digests: dict[str, DigestBook] = {}
        self._stopping = False

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the service is up (started, owners read, consuming), and its state."""
        stalled = time.monotonic() - self.last_poll > STALL_S
        ok = self.ready.is_set() and not stalled
        return ok, {
            "status": "ok" if ok else ("stalled" if self.ready.is_set() else "starting"),
            "owners": len(self.owners.owners),
            "pending_alerts": self.ledger.pending(),
            "held_alerts": sum(len(held) for held in self.held.values()),
            "snoozed_customers": self.actions.snoozed(_now_ms()),
            "queued": {name: queue.qsize() for name, queue in self.queues.items()},
        }

    async def run(self) -> None:
        """Deliver until cancelled; raises KafkaError when Kafka cannot be reached at start."""
        settings = self.settings
        kafka = aiokafka_client_config(settings.kafka)
        async with contextlib.AsyncExitStack() as stack:
            producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **kafka)
            await producer.start()
            stack.push_async_callback(producer.stop)
            redis = redis_client(settings)
            stack.push_async_callback(redis.aclose)
            session = aiohttp.ClientSession()
            stack.push_async_callback(session.close)
            delivery_log = DeliveryLog(redis, settings.redis.prefix)
            self.delivery_log = delivery_log
            self.digests = {name: DigestBook(redis, settings.redis.prefix, name)
                            for name, destination in self.routing.destinations.items()
                            if destination.digest}
            owners = asyncio.create_task(self.owners.follow(settings), name="owners")
            actions = asyncio.create_task(follow_topic(
                settings, settings.topics.alert_actions,
                lambda key, value: apply_action(self.actions, key, value), self.actions_ready),
                name="alert-actions")
            stack.push_async_callback(_cancel, [owners, actions])
            await _first(self.owners.ready.wait(), owners)
            await _first(self.actions_ready.wait(), actions)
            log.info("%d customers have an owner", len(self.owners.owners))
            consumer = AIOKafkaConsumer(
                group_id=f"{settings.worker.app_id}-notify",
                enable_auto_commit=False,
                auto_offset_reset=settings.notify.start_from,
                **kafka,
            )
            consumer.subscribe([settings.topics.alerts], listener=_Rebalance(self, consumer))
            await consumer.start()
            stack.push_async_callback(consumer.stop)
            stack.push_async_callback(self._commit, consumer)
            senders = [asyncio.create_task(
                self._destination_loop(destination, delivery_log, session, producer),
                name=f"deliver-{name}") for name, destination in self.routing.destinations.items()]
            stack.push_async_callback(self._stop_senders, senders)
            self.ready.set()
            log.info("delivering %s to %d destinations (group %s)", settings.topics.alerts,
                     len(self.queues), f"{settings.worker.app_id}-notify")
            await self._consume(consumer, producer, [owners, actions, *senders])

    async def _consume(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                       tasks: list[asyncio.Task[None]]) -> None:
        last_commit = time.monotonic()
        while True:
            self.last_poll = time.monotonic()
            for task in tasks:
                if task.done():  # a helper died: stop, so the process exits and restarts
                    task.result()
                    raise RuntimeError(f"task {task.get_name()} stopped")
            if self.ledger.pending() < self.settings.notify.max_pending:
                batches = await consumer.getmany(timeout_ms=500, max_records=200)
                for tp, records in batches.items():
                    for record in records:
                        await self._take(tp, record, producer)
            else:
                self.settled.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.settled.wait(), 0.5)
            self._release_held(_now_ms())
            metrics.PENDING.set(self.ledger.pending())
            if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                await self._commit(consumer)
                last_commit = time.monotonic()

    async def _take(self, tp: TopicPartition, record: ConsumerRecord[Any, Any],
                    producer: AIOKafkaProducer) -> None:
        try:
            alert = read_alert(record.value)
        except (orjson.JSONDecodeError, ValueError) as exc:
            metrics.ALERTS.labels("not_an_alert").inc()
            log.warning("%s[%d]@%d is not an alert (%s); dead-lettered", tp.topic, tp.partition,
                        record.offset, exc)
            letter = not_an_alert(tp.partition, record.offset, str(exc), record.value,
                                  _now_ms())
            await self._dead_letter(producer, record.key, letter)
            self.ledger.read(tp, record.offset, deliveries=0)
            return
        customer = alert["customer_id"]
        owner = self.owners.get(customer)
        names = self.routing.destinations_for(alert, owner)
        self.ledger.read(tp, record.offset, deliveries=len(names))
        if names and self.actions.snoozed_until(customer, _now_ms()) is not None and (
                await self._any_open(alert["alert_id"], names)):
            metrics.ALERTS.labels("held").inc()
            self.held.setdefault(customer, []).append(
                Held(tp, record.offset, alert, owner, tuple(names)))
            metrics.HELD.set(sum(len(held) for held in self.held.values()))
            return
        metrics.ALERTS.labels("routed" if names else "unrouted").inc()
        for name in names:
            self._enqueue(name, Job(tp, record.offset, alert, owner))

    async def _any_open(self, alert_id: str, names: list[str]) -> bool:
        """Whether a pair of the alert is not done yet (an alert read again after a restart
        may be done everywhere already: it is not held again)."""
        delivery_log = self.delivery_log
        if delivery_log is None:
            return True

        async def outcomes() -> list[str | None]:
            return [await delivery_log.outcome(alert_id, name) for name in names]

        return None in await self._retrying("redis", outcomes)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop what was read from ``partitions`` (gone to another consumer, or coming back
        from the committed offset): their alerts will be read again."""
        self.ledger.forget(partitions)
        for tp in partitions:
            self._committed.pop(tp, None)
        for customer in list(self.held):
            kept = [h for h in self.held[customer] if h.partition not in partitions]
            if kept:
                self.held[customer] = kept
            else:
                del self.held[customer]
        metrics.HELD.set(sum(len(held) for held in self.held.values()))

    def _enqueue(self, name: str, job: Job) -> None:
        self.queues[name].put_nowait(job)
        metrics.QUEUED.labels(name).set(self.queues[name].qsize())

    def _release_held(self, now_ms: int) -> None:
        """Send or drop the held alerts of the customers whose snooze has ended."""
        ended = [customer for customer in self.held
                 if self.actions.snoozed_until(customer, now_ms) is None]
        for customer in ended:
            send, drop = release(self.held.pop(customer))
            log.info("snooze of %s ended: %d held alerts sent, %d dropped (recovered)",
                     customer, len(send), len(drop))
            for held, dropped in [*((h, True) for h in drop), *((h, False) for h in send)]:
                for name in held.destinations:
                    self._enqueue(name, Job(held.partition, held.offset, held.alert,
                                            held.owner, drop=dropped))
        if ended:
            metrics.HELD.set(sum(len(held) for held in self.held.values()))

    async def _destination_loop(self, destination: Destination, delivery_log: DeliveryLog,
                                session: aiohttp.ClientSession,
                                producer: AIOKafkaProducer) -> None:
        queue = self.queues[destination.name]
        checked = time.monotonic()
        while not self._stopping:
            if destination.digest:
                if time.monotonic() - checked >= DIGEST_BUSY_S:
                    await self._send_digests(destination, producer)
                    checked = time.monotonic()
                try:
                    job = await asyncio.wait_for(queue.get(), DIGEST_IDLE_S)
                except TimeoutError:
                    await self._send_digests(destination, producer)
                    checked = time.monotonic()
                    continue
            else:
                job = await queue.get()
            metrics.QUEUED.labels(destination.name).set(queue.qsize())
            self._busy.add(destination.name)
            try:
                await self._deliver(job, destination, delivery_log, session, producer)
            finally:
                self._busy.discard(destination.name)
            self.ledger.settle(job.partition, job.offset)
            self.settled.set()

    async def _stop_senders(self, senders: list[asyncio.Task[None]],
                            grace_s: float = 10.0) -> None:
        """Let deliveries under way finish (for up to ``grace_s``), so that a stop repeats
        none; then stop every sender."""
        self._stopping = True
        deadline = time.monotonic() + grace_s
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await _cancel(senders)

    async def _deliver(self, job: Job, destination: Destination, delivery_log: DeliveryLog,
                       session: aiohttp.ClientSession, producer: AIOKafkaProducer) -> None:
        name, alert_id = destination.name, str(job.alert["alert_id"])
        done = await self._retrying("redis", lambda: delivery_log.outcome(alert_id, name))
        if done is not None:
            metrics.DELIVERIES.labels(name, destination.kind, "already_done").inc()
            return
        if job.drop:
            await self._retrying("redis", lambda: delivery_log.record(alert_id, name, DROPPED))
            metrics.DELIVERIES.labels(name, destination.kind, DROPPED).inc()
            return
        recipient = email_address(destination, job.owner) if destination.digest else None
        if recipient is not None:
            book = self.digests[name]
            await self._retrying("redis", functools.partial(
                book.add, recipient, job.alert, None if job.owner is None else job.owner.owner))
            await self._retrying("redis", lambda: delivery_log.record(alert_id, name, DIGESTED))
            metrics.DELIVERIES.labels(name, destination.kind, DIGESTED).inc()
            return
        started = time.perf_counter()
        outcome = await deliver(session, destination, job.alert, job.owner,
                                self.settings.notify.page_url, self.sleep)
        metrics.ATTEMPTS.labels(name).inc(outcome.attempts)
        result = DELIVERED
        if not outcome.delivered:
            result = DEAD_LETTERED
            log.warning("alert %s not delivered to %s: %s; dead-lettered", alert_id, name,
                        outcome.reason)
            letter = undeliverable(job.alert, destination, outcome, _now_ms())
            await self._dead_letter(producer, str(job.alert["customer_id"]).encode(), letter)
        await self._retrying("redis", lambda: delivery_log.record(alert_id, name, result))
        metrics.DELIVERY_SECONDS.labels(name).observe(time.perf_counter() - started)
        metrics.DELIVERIES.labels(name, destination.kind, result).inc()

    async def _send_digests(self, destination: Destination,
                            producer: AIOKafkaProducer) -> None:
        """Send each recipient due a digest its waiting alerts, in one email."""
        name, book = destination.name, self.digests[destination.name]
        metrics.DIGEST_CHECKS.labels(name).inc()
        now = _now_ms()
        if not digest_due(now, destination.digest_hour):
            return
        day = digest_day(now)
        for recipient in await self._retrying("redis", book.recipients):
            if await self._retrying("redis", functools.partial(book.sent, recipient, day)):
                continue
            raw = await self._retrying("redis", functools.partial(book.pending, recipient))
            if not raw:
                continue
            entries = unique_entries(raw)
            ident = digest_id(name, recipient, day)
            mail = digest_email(entries, str(destination.sender), recipient, day,
                                self.settings.notify.page_url, ident)
            outcome = await send_with_retries(destination, mail, sleep=self.sleep)
            metrics.ATTEMPTS.labels(name).inc(outcome.attempts)
            if not outcome.delivered:
                log.warning("digest of %d alerts not delivered by %s: %s; dead-lettered",
                            len(entries), name, outcome.reason)
                letter = {**undeliverable({"alert_id": ident}, destination, outcome, now),
                          "alert": None, "alerts": [entry["alert"] for entry in entries]}
                await self._dead_letter(producer, None, letter)
            await self._retrying("redis", functools.partial(book.settle, recipient, len(raw),
                                                            day))
            metrics.DIGESTS.labels(name, "sent" if outcome.delivered else DEAD_LETTERED).inc()

    async def _dead_letter(self, producer: AIOKafkaProducer, key: bytes | None,
                           letter: Mapping[str, Any]) -> None:
        value = orjson.dumps(letter)
        await self._retrying("kafka", lambda: producer.send_and_wait(
            self.settings.topics.notify_dlq, key=key, value=value))

    async def _retrying(self, store: str, operation: Callable[[], Awaitable[T]]) -> T:
        """``operation`` until it succeeds: the delivery log and the dead-letter topic must
        take what they are given before the alert counts as done."""
        failures = 0
        while True:
            try:
                return await operation()
            except (RedisError, OSError, KafkaError) as exc:
                failures += 1
                metrics.LOG_ERRORS.labels(store).inc()
                if failures == 1 or failures % 20 == 0:
                    log.warning("%s failed (%s, %d in a row); retrying with backoff", store,
                                exc.__class__.__name__, failures)
                await asyncio.sleep(min(MAX_STORE_BACKOFF_S, 0.2 * 2 ** min(failures, 8)))

    async def _commit(self, consumer: AIOKafkaConsumer,
                      partitions: set[TopicPartition] | None = None) -> None:
        positions = {tp: offset for tp, offset in self.ledger.committable().items()
                     if self._committed.get(tp) != offset
                     and (partitions is None or tp in partitions)}
        if not positions:
            return
        try:
            await consumer.commit(positions)
        except KafkaError as exc:
            log.warning("notify offset commit failed (%s); the alerts after the last commit "
                        "are read again and skipped by the delivery log", exc.__class__.__name__)
            return
        self._committed.update(positions)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit what is done before partitions go to another notify process."""

    def __init__(self, notifier: Notifier, consumer: AIOKafkaConsumer) -> None:
        self.notifier = notifier
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.notifier._commit(self.consumer, set(revoked))
        self.notifier.forget(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _first(waiting: Awaitable[Any], task: asyncio.Task[None]) -> None:
    """Wait for ``waiting``, or raise what ``task`` failed with if it ends first."""
    waiter = asyncio.ensure_future(waiting)
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if not waiter.done():
        waiter.cancel()
        task.result()
        raise RuntimeError(f"task {task.get_name()} stopped")


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
