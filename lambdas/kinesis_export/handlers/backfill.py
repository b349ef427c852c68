"""A Step Functions Distributed Map worker: one batch of a backfill file's lines onto the stream.

Bad lines are reported in the result (the map's results collect them); a batch whose records
could not all be written raises, so the map retries it, and reports it failed in the end.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from kinesis_export import metrics as names
from kinesis_export import runtime
from kinesis_export.backfill import export_items
from kinesis_export.config import Settings, load_config
from kinesis_export.credentials import stream_writer
from kinesis_export.deadline import Deadline
from kinesis_export.records import RecordPlan

settings = Settings.from_environ(os.environ)
config = load_config(settings.destination_config_file)
logger = Logger(service=config.name)
metrics = Metrics(namespace=settings.metrics_namespace, service=config.name)
writer = stream_writer(config, settings.region, settings.writer_concurrency)
plan = RecordPlan(config)

runtime.started()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deadline = Deadline.of_invocation(context, settings.deadline_margin_ms)
    with runtime.collector_paused():
        result = export_items(event["Items"], plan, writer, deadline)
    metrics.add_metric(name=names.BACKFILL_EXPORTED, unit=MetricUnit.Count, value=result["exported"])
    metrics.add_metric(name=names.BACKFILL_REJECTED, unit=MetricUnit.Count, value=len(result["rejected"]))
    logger.info("backfill batch exported", extra={"exported": result["exported"], "rejected": len(result["rejected"])})
    return result
