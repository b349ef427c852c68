"""The composition root: everything a function works with, built once per container from its environment.

The handlers call `exporter` or `worker` at import (Lambda's start-up, where an invalid config fails
the function before it takes a message); tests call them with fakes in place of the AWS clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from botocore.config import Config

from .config import ConfigError, DestinationConfig, Settings, load_config
from .credentials import kinesis_client
from .idempotency import EventLedger, dynamodb_ledger
from .profile_store import dynamodb_profile_store
from .profiles import ProfilePlan, Profiles, ProfileStore
from .queues import Queue
from .records import RecordPlan
from .rejects import RejectsQueue
from .writer import KinesisWriter

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_sqs import SQSClient

# A Lambda entry point, as each handler module's `handler_for` makes one.
Handler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]


def load(environ: Mapping[str, str]) -> tuple[Settings, DestinationConfig]:
    """The function's settings and its destination config, validated (ConfigError otherwise)."""
    settings = Settings.from_environ(environ)
    return settings, load_config(settings.destination_config_file)


@dataclass
class Worker:
    """What a function that writes to the stream works with: the Distributed Map worker's whole set."""

    settings: Settings
    config: DestinationConfig
    logger: Logger
    metrics: Metrics
    plan: RecordPlan
    writer: KinesisWriter
    # With profileState: the profile state step, its plan and its table.
    profiles: Profiles | None = None


@dataclass
class Exporter(Worker):
    """The exporter's set: a worker's, and the queues and ledger its environment names."""

    rejects: RejectsQueue | None = None
    # Where the unfinished rest of a long message goes back to (see pipeline.export_batch); never a FIFO queue.
    ingest: Queue | None = None
    ledger: EventLedger | None = None


def worker(environ: Mapping[str, str], *, kinesis: Any = None, profile_store: ProfileStore | None = None) -> Worker:
    """A writing function's set; `kinesis` and `profile_store` stand in for its clients (a test's fakes)."""
    settings, config = load(environ)
    plan = RecordPlan(config)
    return Worker(
        settings,
        config,
        *_observability(settings, config),
        plan,
        _writer(settings, config, kinesis),
        profiles=profiles(settings, config, plan, profile_store),
    )


def exporter(
    environ: Mapping[str, str],
    *,
    kinesis: Any = None,
    sqs: SQSClient | Callable[[], SQSClient] | None = None,
    ledger: EventLedger | None = None,
    profile_store: ProfileStore | None = None,
) -> Exporter:
    """The exporter's set; `kinesis`, `sqs`, `ledger` and `profile_store` stand in for the AWS clients (fakes)."""
    settings, config = load(environ)
    sqs = sqs or _sqs_client(settings.region)
    # The config is the truth: from a FIFO queue a long message is never continued (its rest would go
    # behind the later messages of its group), whatever INGEST_QUEUE_URL says.
    ingest_url = settings.ingest_queue_url if not config.ingest.fifo else None
    if config.idempotency is not None and ledger is None:
        if not settings.idempotency_table_name:
            raise ConfigError("environment", ["IDEMPOTENCY_TABLE_NAME: required when the config sets idempotency"])
        ledger = dynamodb_ledger(
            settings.idempotency_table_name,
            config.idempotency.ttl_seconds,
            key_prefix=config.name,
            region=settings.region,
        )
    logger, metrics = _observability(settings, config)
    if config.ingest.fifo and settings.ingest_queue_url:
        logger.warning("INGEST_QUEUE_URL ignored: with ingest.fifo a long message is redelivered whole, not continued")
    plan = RecordPlan(config)
    return Exporter(
        settings,
        config,
        logger,
        metrics,
        plan,
        _writer(settings, config, kinesis),
        profiles=profiles(settings, config, plan, profile_store),
        rejects=RejectsQueue(Queue(sqs, settings.rejects_queue_url)) if settings.rejects_queue_url else None,
        ingest=Queue(sqs, ingest_url, name="continue") if ingest_url else None,
        ledger=ledger if config.idempotency is not None else None,
    )


def profiles(
    settings: Settings, config: DestinationConfig, plan: RecordPlan, store: ProfileStore | None = None
) -> Profiles | None:
    """With profileState, the profile state step on the table the environment names (or `store`); else None."""
    if config.profile_state is None:
        return None
    if store is None:
        if not settings.profile_table_name:
            raise ConfigError("environment", ["PROFILE_TABLE_NAME: required when the config sets profileState"])
        store = dynamodb_profile_store(settings.profile_table_name, config.name, settings.region)
    return Profiles(ProfilePlan(config, plan), store, config.profile_state.ttl_days)


def _observability(settings: Settings, config: DestinationConfig) -> tuple[Logger, Metrics]:
    return Logger(service=config.name), Metrics(namespace=settings.metrics_namespace, service=config.name)


def stream_writer(
    config: DestinationConfig, region: str | None, concurrency: int = 4, session: boto3.Session | None = None
) -> KinesisWriter:
    """A writer to the destination's stream, with its credentials, on a Kinesis client of its own."""
    client = kinesis_client(config, region, connections=max(10, concurrency), session=session)
    return KinesisWriter(client, config.stream.name, concurrency=concurrency)


def _writer(settings: Settings, config: DestinationConfig, kinesis: Any) -> KinesisWriter:
    if kinesis is not None:
        return KinesisWriter(kinesis, config.stream.name, concurrency=settings.writer_concurrency)
    return stream_writer(config, settings.region, settings.writer_concurrency)


def _sqs_client(region: str | None) -> Callable[[], SQSClient]:
    """Made at the first message sent: most batches send none, and the client costs cold start its model."""

    @cache
    def client() -> SQSClient:
        return boto3.client("sqs", region_name=region, config=Config(connect_timeout=2, read_timeout=5))

    return client
