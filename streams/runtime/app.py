"""The Faust application: topics, the customer-state table, the scoring agent, web views.

Thin by design: bytes move between Kafka, the table and
:class:`streams.runtime.processor.Processor`,
which holds every decision. Delivery is at-least-once (Faust flushes produced records and table
changelog writes before it commits offsets); the scorer's event-id memory makes redelivery
harmless and alert ids are deterministic.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from scorers.config import ScoringConfig
from scorers.schedule import DueSchedule
from scorers.state import schedule_fields
from streams.kafka_clients import (
    faust_broker_credentials,
    faust_broker_urls,
    kafka_client_config,
)
from streams.runtime import metrics
from streams.runtime.access import access_middleware, announce
from streams.runtime.band_gauge import BandCounts
from streams.runtime.batch_scorer import BatchResult, BatchScorer, InputProgress
from streams.runtime.broker_watchdog import watch_broker
from streams.runtime.commit_watch import CommitWatch
from streams.runtime.consumer import FetchRoute, RebalanceSafeConsumer
from streams.runtime.consumer import install as install_consumer
from streams.runtime.fetch_batch import FetchBatch
from streams.runtime.fetch_pipeline import FetchPipeline
from streams.runtime.group_offsets import committed_offsets
from streams.runtime.processor import Emit, Processor
from streams.runtime.projector import RedisProjector
from streams.runtime.state_table import StateTable
from streams.runtime.store_options import table_store_options
from streams.runtime.views import register_views
from streams.settings import Settings

log = logging.getLogger(__name__)

TABLE_NAME = "customer-state"
# How often the commit watch looks (streams.runtime.commit_watch).
COMMIT_WATCH_INTERVAL_S = 5.0
# Whole fetches waiting for the agent: one being scored, one fetched ahead.
FETCHES_AHEAD = 2


def create_app(settings: Settings, cfg: ScoringConfig) -> faust.App:
    """Build the worker's Faust app for ``settings`` and the model config ``cfg``."""
    kafka_client_config(settings.kafka)  # validates the security settings early
    announce(settings.web)
    app = faust.App(
        settings.worker.app_id,
        broker=faust_broker_urls(settings.kafka),
        broker_credentials=faust_broker_credentials(settings.kafka),
        store=settings.worker.table_store,
        datadir=settings.worker.data_dir,
        topic_partitions=settings.topics.partitions,
        topic_replication_factor=settings.topics.replication_factor,
        topic_allow_declare=True,
        topic_disable_leader=True,
        producer_acks=-1,
        producer_linger=settings.worker.producer_linger_s,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.worker.commit_interval_s,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=settings.worker.session_timeout_s / 10,
        table_standby_replicas=0,
        web_enabled=True,
        web_host=settings.web.host,
        web_port=settings.web.port,
        web_bind=settings.web.host,
        web_in_thread=False,
        # Bearer tokens on every route (streams.runtime.access): the middleware is part of
        # the aiohttp Application from its construction, before any route is served.
        web_application_options={"middlewares": [access_middleware(settings.web)]},
        canonical_url=f"http://{settings.web.advertised_host or socket.gethostname()}:"
        f"{settings.web.port}",
        # Faust's table, router, graph, stats and metrics pages expose table data or
        # internals; relscore serves its own views instead.
        web_tables_enabled=False,
        web_router_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
    )
    processor = Processor(settings, cfg)
    bands = BandCounts()
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=settings.topics.partitions,
        # The changelog partition comes from the key (murmur2, like the inputs' producers),
        # so rows can be written after a batch, outside any one event's context.
        use_partitioner=True,
        # bytes types select Faust's raw codec for the changelog too (recovery decodes with it).
        key_type=bytes,
        value_type=bytes,
        options=table_store_options(settings.worker.table_store,
                                    settings.worker.rocksdb_memory_mib),
    )
    source = app.topic(
        *settings.topics.inputs,
        settings.topics.rekey,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.partitions,
    )
    # The consumer subscribes to the inputs, and hands their records to the agent a whole
    # fetch at a time through this in-memory channel (streams.runtime.fetch_batch).
    fetches = app.channel(maxsize=FETCHES_AHEAD)
    app.topics.add(source.clone(is_iterator=True))  # type: ignore[arg-type]

    async def send(emit: Emit) -> Awaitable[Any]:
        """Hand ``emit`` to the producer; the result resolves when Kafka acknowledges it."""
        # Straight to Faust's producer, not through app.topic(...).send(): that path adds
        # per-message futures, callbacks and sensors, ~10% of the worker's CPU per event
        # (bench/bench_variants.py); topics are created beforehand by ensure_topics.
        return await app.producer.send(
            emit.topic, emit.key, emit.value, emit.partition,
            None if emit.timestamp_ms is None else emit.timestamp_ms / 1000,
            list(emit.headers) or None,
        )

    schedule = DueSchedule(settings.worker.allowed_lateness_ms)
    clocked_topics = (*settings.topics.inputs, settings.topics.rekey)
    progress = InputProgress(clocked_topics)
    batches = BatchScorer(processor, schedule, bands, progress)

    def highwaters() -> dict[tuple[str, int], int | None]:
        """End offsets of the assigned input partitions, as the consumer last saw them."""
        ends: dict[tuple[str, int], int | None] = {}
        for tp in app.assignor.assigned_actives():
            if tp.topic in clocked_topics:
                try:
                    ends[(tp.topic, tp.partition)] = app.consumer.highwater(tp)
                except (KeyError, AssertionError):
                    ends[(tp.topic, tp.partition)] = None
        return ends

    def score_fetch(fetch: FetchBatch, get: Callable[[bytes], bytes | None]) -> BatchResult:
        started = time.perf_counter()
        result = batches.process(fetch.records, get, highwaters())
        metrics.PROCESSING_SECONDS.observe((time.perf_counter() - started) / len(fetch.records))
        return result

    def consumer() -> RebalanceSafeConsumer:
        return app.consumer  # type: ignore[return-value]

    rows = StateTable(table, settings.topics.partitions, send)
    pipeline = FetchPipeline(score_fetch, send, rows, lambda f: consumer().scoring(f),
                             lambda f: consumer().scored(f))
    install_consumer(app, FetchRoute(frozenset(source.topics),
                                     lambda batch: fetches.send(value=batch),
                                     pipeline.drained, settings.worker.batch_size))

    async def finish_fetches() -> None:
        try:
            await pipeline.finish()
        except Exception as exc:
            # Later fetches must not be acknowledged past this one: stop, and let the
            # restarted worker score its records again from the committed offsets.
            log.error("stopping: a batch's outputs or state could not be written: %r", exc)
            await app.crash(exc)
            raise

    # concurrency=1: fetches are scored, and their offsets acknowledged, in order.
    @app.agent(fetches, concurrency=1, name="score")
    async def score(stream: Any) -> None:
        finishing = asyncio.ensure_future(finish_fetches())
        try:
            async for fetch in stream:
                if finishing.done():
                    finishing.result()  # raises what stopped it
                if not await pipeline.take(fetch):
                    metrics.STALE_FETCHES.inc()
        finally:
            finishing.cancel()

    watch = CommitWatch()
    watched: set[tuple[str, str]] = set()

    def look_at_commits() -> None:
        """Refresh relscore_commit_stalled_seconds for the partitions this worker holds."""
        nonlocal watched
        # Faust keeps both in its consumer with no public accessor: the offset of the last
        # record it delivered to the agent, and the offset it last committed, per partition.
        read = getattr(app.consumer, "_read_offset")  # noqa: B009
        committed = getattr(app.consumer, "_committed_offset")  # noqa: B009
        assigned = [(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()
                    if tp.topic in clocked_topics]
        stalled = watch.observe(
            time.monotonic(), committed={tp: committed.get(tp) for tp in assigned},
            read={tp: read.get(tp) for tp in assigned}, assigned=assigned,
            recovering=bool(app.rebalancing or app.in_recovery))
        labels = {(topic, str(partition)) for topic, partition in stalled}
        for (topic, partition), seconds in stalled.items():
            metrics.COMMIT_STALLED.labels(topic, str(partition)).set(seconds)
        for gone in watched - labels:  # moved to another worker: no stale value left behind
            metrics.COMMIT_STALLED.remove(*gone)
        watched = labels

    @app.timer(COMMIT_WATCH_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def watch_commits() -> None:
        look_at_commits()

    async def on_recovered() -> None:
        """After (re)assignment and recovery: recount bands and rebuild the schedule for the
        partitions this worker now owns, from the due times stored in each state."""
        assigned = {tp.partition for tp in app.assignor.assigned_actives()
                    if tp.topic == settings.topics.rekey}
        # Reading resumes at the committed offsets: that is where each input stands.
        committed = await asyncio.to_thread(committed_offsets, settings, clocked_topics)
        progress.reset({tp: offset for tp, offset in committed.items() if tp[1] in assigned})
        schedule.drop()
        scores: list[float | None] = []
        for partition, key, raw in rows.partition_rows():
            if partition not in assigned:
                continue
            score, next_due, ref_ts = schedule_fields(raw)  # the rest of the row is not needed
            scores.append(score)
            schedule.push(partition, key, next_due)
            schedule.observe(partition, ref_ts)
        bands.recount(scores)
        metrics.SCHEDULED.set(len(schedule))
        log.info("schedule rebuilt: %d customers due-tracked on partitions %s",
                 len(schedule), sorted(assigned))
        look_at_commits()  # the partitions it now holds show at once, those it lost go

    table.on_recover(on_recovered)

    if settings.worker.clock == "wall":
        @app.timer(settings.worker.tick_interval_s)  # type: ignore[untyped-decorator]
        async def tick() -> None:
            now = time.time_ns() // 1_000_000
            for tp in app.assignor.assigned_actives():
                if tp.topic == settings.topics.rekey:
                    await send(processor.tick(tp.partition, now))

    if settings.worker.projector == "worker":  # otherwise `relscore project` runs it apart
        projector = RedisProjector(settings, cfg.alerts.threshold)

        @app.task  # type: ignore[untyped-decorator]
        async def project_to_redis() -> None:
            await projector.run()

    @app.task  # type: ignore[untyped-decorator]
    async def exit_when_kafka_is_gone() -> None:
        await watch_broker(settings)

    register_views(app, settings, cfg, table)
    setup_prometheus_sensors(app, registry=metrics.REGISTRY, name_prefix="relscore_faust")

    app.relscore_processor = processor  # type: ignore[attr-defined]
    app.relscore_table = table  # type: ignore[attr-defined]
    del score, exit_when_kafka_is_gone, watch_commits
    return app

