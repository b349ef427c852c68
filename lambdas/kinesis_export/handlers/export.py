"""The SQS-triggered exporter: segment events in, AEP-format records on the Kinesis stream.

Everything that can be done once per container is done at import: settings and the
destination config are validated (an invalid config fails the start-up, before any
message is taken), and the clients, the record plan and the writer are built.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from kinesis_export import metrics as names
from kinesis_export import runtime
from kinesis_export.config import ConfigError, Settings, load_config
from kinesis_export.credentials import stream_writer
from kinesis_export.deadline import Deadline
from kinesis_export.idempotency import dynamodb_ledger
from kinesis_export.pipeline import ORIGIN_INDEXES_ATTRIBUTE, ORIGIN_MESSAGE_ATTRIBUTE, export_batch
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.rejects import Rejection, RejectsQueue

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

settings = Settings.from_environ(os.environ)
config = load_config(settings.destination_config_file)

logger = Logger(service=config.name)
metrics = Metrics(namespace=settings.metrics_namespace, service=config.name)

writer = stream_writer(config, settings.region, settings.writer_concurrency)
plan = RecordPlan(config)


@cache
def sqs_client() -> SQSClient:
    """Made at the first message sent: most batches send none, and the client costs cold start its model."""
    return boto3.client("sqs", region_name=settings.region, config=Config(connect_timeout=2, read_timeout=5))


rejects = RejectsQueue(Queue(sqs_client, settings.rejects_queue_url)) if settings.rejects_queue_url else None
# Where the unfinished rest of a long message goes back to (see pipeline.export_batch).
ingest = Queue(sqs_client, settings.ingest_queue_url, name="continue") if settings.ingest_queue_url else None
ledger = None
if config.idempotency is not None:
    if not settings.idempotency_table_name:
        raise ConfigError("environment", ["IDEMPOTENCY_TABLE_NAME: required when the config sets idempotency"])
    ledger = dynamodb_ledger(
        settings.idempotency_table_name, config.idempotency.ttl_seconds, key_prefix=config.name, region=settings.region
    )

runtime.started()


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId", clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answers with an SQS partial batch response: only unfinished messages come back."""
    messages = [(record["messageId"], record["body"]) for record in event["Records"]]
    deadline = Deadline.of_invocation(context, settings.deadline_margin_ms)

    with runtime.collector_paused():
        report = export_batch(messages, plan, writer, rejects, deadline, ledger, ingest, _origins(event["Records"]))

    for name, value in (
        (names.EVENTS_RECEIVED, report.received),
        (names.EVENTS_EXPORTED, report.exported),
        (names.EVENTS_FILTERED, report.filtered),
        (names.EVENTS_WITHOUT_CONSENT, report.without_consent),
        (names.EVENTS_REJECTED, report.rejected),
        (names.EVENTS_FAILED, report.failed),
        (names.PUT_RECORDS_CALLS, report.put_records_calls),
        (names.PUT_RECORDS_RETRIES, report.put_records_retries),
        (names.MESSAGES_CONTINUED, report.continued),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if ledger is not None:
        metrics.add_metric(name=names.EVENTS_DUPLICATE, unit=MetricUnit.Count, value=report.duplicates)
    # One line per message, however many of its events were rejected: the log's size follows the batch's.
    rejected: dict[str, list[Rejection]] = {}
    for rejection in report.rejections:
        rejected.setdefault(rejection.message_id, []).append(rejection)
    for message_id, rejections in rejected.items():
        first = rejections[0]
        logger.warning(
            "message rejected",
            extra={"message_id": message_id, "events": len(rejections), "code": first.code, "reason": first.reason},
        )
    if report.idempotency_errors:
        logger.warning(
            "idempotency table not updated after the write; those events may be written again on redelivery",
            extra={"requests_failed": report.idempotency_errors},
        )
    for message_id, reason in report.failures.items():
        logger.error("message failed, left for SQS to retry", extra={"message_id": message_id, "reason": reason})
    logger.info(
        "batch exported",
        extra={
            "received": report.received,
            "exported": report.exported,
            "filtered": report.filtered,
            "without_consent": report.without_consent,
            "rejected": report.rejected,
            "failed": report.failed,
            "duplicates": report.duplicates,
            "put_records_calls": report.put_records_calls,
            "continued": report.continued,
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed_message_ids]}


def _origins(records: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """The origin that continuations carry in their attributes (message id, indexes), by message id."""
    origins = {}
    for record in records:
        attributes = record.get("messageAttributes") or {}
        source = _text(attributes, ORIGIN_MESSAGE_ATTRIBUTE)
        indexes = _text(attributes, ORIGIN_INDEXES_ATTRIBUTE)
        if source and indexes:
            origins[record["messageId"]] = (source, indexes)
    return origins


def _text(attributes: dict[str, Any], name: str) -> str | None:
    """A string message attribute, as Lambda's SQS event carries it."""
    value = attributes.get(name)
    return value.get("stringValue") if isinstance(value, dict) else None
