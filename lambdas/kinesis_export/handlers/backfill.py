"""A Step Functions Distributed Map worker: one batch of a backfill file's lines onto the stream.

Bad lines are reported in the result (the map's results collect them); a batch whose records
could not all be written raises, so the map retries it, and reports it failed in the end.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from kinesis_export import metrics as names
from kinesis_export import wiring
from kinesis_export.backfill import export_items
from kinesis_export.deadline import Deadline


def handler_for(worker: wiring.Worker) -> wiring.Handler:
    """The Lambda entry point over what `worker` holds, with Powertools' logger context and metrics flush."""

    @worker.logger.inject_lambda_context(clear_state=True)
    @worker.metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        deadline = Deadline.of_invocation(context, worker.settings.deadline_margin_ms)
        result = export_items(event["Items"], worker.plan, worker.writer, deadline, worker.profiles)
        worker.metrics.add_metric(name=names.BACKFILL_EXPORTED, unit=MetricUnit.Count, value=result["exported"])
        worker.metrics.add_metric(name=names.BACKFILL_REJECTED, unit=MetricUnit.Count, value=len(result["rejected"]))
        worker.logger.info(
            "backfill batch exported", extra={"exported": result["exported"], "rejected": len(result["rejected"])}
        )
        return result

    return handler


# Built at import, once per container: an invalid config fails the start-up.
handler = handler_for(wiring.worker(os.environ))
