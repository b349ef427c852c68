"""The connection check at deployment: a CloudFormation custom resource (CDK's Provider framework).

A stack whose credentials cannot reach its stream fails to deploy, with the check's own lines
as the reason, instead of deploying a pipeline that would only fill its dead-letter queue.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from kinesis_export import wiring
from kinesis_export.config import DestinationConfig, Settings
from kinesis_export.connection import CheckReport, check_connection
from kinesis_export.deadline import Calls, Deadline, Late


class ConnectionCheckFailed(RuntimeError):
    """Raised to fail the deployment; the Provider framework reports the message to CloudFormation."""


NO_ANSWER = "no answer from AWS within the check function's time: check the network, a proxy or an endpoint setting"
# A role or policy created in the same deployment can take a few seconds to take effect.
ATTEMPTS = 3
PAUSE_SECONDS = 10.0


def handler_for(
    settings: Settings,
    config: DestinationConfig,
    check: Callable[[DestinationConfig, str | None], CheckReport] = check_connection,
    pause_seconds: float = PAUSE_SECONDS,
) -> wiring.Handler:
    """The custom resource's entry point for this destination; `check` stands in for the real one in tests."""
    logger = Logger(service=config.name)
    # The check's own calls retry and page, with no bound on the whole: it runs on a thread of its own and is
    # abandoned when the invocation's time is up, so that the deployment fails with the check's reason,
    # not with a Lambda timeout.
    calls = Calls(1, "check")
    config_sha256 = hashlib.sha256(Path(settings.destination_config_file).read_bytes()).hexdigest()

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        physical_id = event.get("PhysicalResourceId") or f"kinesis-export-check-{config.name}"
        if event["RequestType"] == "Delete":
            return {"PhysicalResourceId": physical_id}
        if event["ResourceProperties"].get("ConfigSha256", config_sha256) != config_sha256:
            # A rollback to an older config, while this function still holds the new one: checking
            # the new one again would only fail the rollback too.
            logger.info("rollback to an earlier config: not checked")
            return {"PhysicalResourceId": physical_id}
        deadline = Deadline.of_invocation(context, settings.deadline_margin_ms)
        for attempt in range(1, ATTEMPTS + 1):
            [answer] = calls.run(lambda _: check(config, settings.region), [attempt], deadline)
            if isinstance(answer, Late):
                report = CheckReport(problems=[NO_ANSWER])
                break
            report = answer
            if report.ok or attempt == ATTEMPTS or deadline.remaining() <= pause_seconds:
                break
            logger.warning(
                "connection check failed, trying again", extra={"attempt": attempt, "problems": report.problems}
            )
            time.sleep(pause_seconds)
        if not report.ok:
            logger.error("connection check failed", extra={"problems": report.problems})
            raise ConnectionCheckFailed("; ".join(report.problems))
        logger.info("connection check passed", extra={"passed": report.passed})
        return {"PhysicalResourceId": physical_id, "Data": {"StreamArn": report.stream_arn}}

    return handler


# Built at import, once per container: an invalid config fails the start-up.
handler = handler_for(*wiring.load(os.environ))
