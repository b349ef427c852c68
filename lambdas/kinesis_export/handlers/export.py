"""The SQS-triggered exporter: segment events in, AEP-format records on the Kinesis stream."""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from kinesis_export import metrics as names
from kinesis_export import wiring
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import (
    ORIGIN_INDEXES_ATTRIBUTE,
    ORIGIN_MESSAGE_ATTRIBUTE,
    ORIGIN_SENT_ATTRIBUTE,
    BatchReport,
    arrival,
    export_batch,
)
from kinesis_export.rejects import Rejection
from kinesis_export.writer import ErrorClass

# The writer's error classes, as metrics.
KINESIS_ERROR_METRICS = {
    ErrorClass.THROTTLED: names.PUT_RECORDS_THROTTLED,
    ErrorClass.INTERNAL_FAILURE: names.PUT_RECORDS_INTERNAL_FAILURES,
    ErrorClass.KMS: names.PUT_RECORDS_KMS_ERRORS,
    ErrorClass.ACCESS_DENIED: names.PUT_RECORDS_ACCESS_DENIED,
    ErrorClass.NOT_FOUND: names.PUT_RECORDS_NOT_FOUND,
    ErrorClass.OTHER: names.PUT_RECORDS_OTHER_ERRORS,
}
# EMF takes at most 100 values of a metric in one document.
EMF_MAX_VALUES = 100


def handler_for(exporter: wiring.Exporter) -> wiring.Handler:
    """The Lambda entry point over what `exporter` holds, with Powertools' logger context and metrics flush."""

    @exporter.logger.inject_lambda_context(correlation_id_path="Records[0].messageId", clear_state=True)
    @exporter.metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """Answers with an SQS partial batch response: only unfinished messages come back."""
        messages = [(record["messageId"], record["body"]) for record in event["Records"]]
        deadline = Deadline.of_invocation(context, exporter.settings.deadline_margin_ms)
        report = export_batch(
            messages,
            exporter.plan,
            exporter.writer,
            exporter.rejects,
            deadline,
            exporter.ledger,
            exporter.ingest,
            continued=_origins(event["Records"]),
            groups=_groups(event["Records"]),
            sent_at=_sent_at(event["Records"]),
            profiles=exporter.profiles,
        )
        _metrics_and_logs(exporter, report)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.failed_message_ids]}

    return handler


def _metrics_and_logs(exporter: wiring.Exporter, report: BatchReport) -> None:
    """The batch's metrics and log lines."""
    metrics, logger = exporter.metrics, exporter.logger
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
        (names.EVENTS_QUALIFIED_AHEAD, report.qualified_ahead),
        *((name, report.put_records_errors[error]) for error, name in KINESIS_ERROR_METRICS.items()),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    _publish_values(
        metrics,
        {names.EXPORT_LATENCY: report.export_latencies_ms, names.QUALIFICATION_AGE: report.qualification_ages_ms},
    )
    if exporter.ledger is not None:
        metrics.add_metric(name=names.EVENTS_DUPLICATE, unit=MetricUnit.Count, value=report.duplicates)
    if exporter.profiles is not None:
        metrics.add_metric(name=names.PROFILE_STATE_CONFLICTS, unit=MetricUnit.Count, value=report.profile_conflicts)
        metrics.add_metric(name=names.PROFILE_STATE_FAILURES, unit=MetricUnit.Count, value=report.profile_failures)
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


def _publish_values(metrics: Metrics, values: dict[str, list[int]]) -> None:
    """Metrics of one value per event, in milliseconds: every value, 100 of each metric a document.

    Percentiles come from the values published, so none is left out: a sample of at most so many a
    batch would weigh the events of small batches over those of large ones (and large batches come
    with a backlog, when latency is high). Not through `add_metric`, which flushes at 100 values too:
    Powertools 3.37 formats a metric's whole list of values into a debug message at every call, even
    with debug logging off: two values an event cost 18 µs an event that way in a 500-message batch,
    most of what exporting the event costs (about 25); built here, 0.2 µs.
    """
    if is_metrics_disabled():
        return
    longest = max(map(len, values.values()), default=0)
    for start in range(0, longest, EMF_MAX_VALUES):
        document = {
            name: {"Unit": MetricUnit.Milliseconds.value, "StorageResolution": 60, "Value": part}
            for name, listed in values.items()
            if (part := listed[start : start + EMF_MAX_VALUES])
        }
        print(json.dumps(metrics.serialize_metric_set(metrics=document), separators=(",", ":")))


def _sent_at(records: list[dict[str, Any]]) -> dict[str, int]:
    """When each message's events arrived in the ingest queue (epoch milliseconds), by message id."""
    sent = {}
    for record in records:
        attributes = record.get("messageAttributes")  # most messages have none
        arrived = arrival(
            (record.get("attributes") or {}).get("SentTimestamp"),
            _text(attributes, ORIGIN_SENT_ATTRIBUTE) if attributes else None,
        )
        if arrived is not None:
            sent[record["messageId"]] = arrived
    return sent


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


def _groups(records: list[dict[str, Any]]) -> dict[str, str]:
    """Each message's group, by message id: only a FIFO queue's messages have one (Lambda's `attributes`)."""
    groups = {}
    for record in records:
        group = (record.get("attributes") or {}).get("MessageGroupId")
        if group:
            groups[record["messageId"]] = group
    return groups


def _text(attributes: dict[str, Any], name: str) -> str | None:
    """A string message attribute, as Lambda's SQS event carries it."""
    value = attributes.get(name)
    return value.get("stringValue") if isinstance(value, dict) else None


# Built at import, once per container: an invalid config fails the start-up, before any message is taken.
handler = handler_for(wiring.exporter(os.environ))
