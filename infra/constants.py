"""Choices every export stack shares, in one place: an upgrade is one edit here."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent

# The latest Python runtime aws-cdk-lib knows; arm64 costs less per GB-second for the same work.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

# AWS's public Powertools for AWS Lambda (Python) v3 layer. It carries aws-lambda-powertools and
# pydantic, so the function's package holds only our own code. One layer per runtime and
# architecture (AWSLambdaPowertoolsPythonV3-python314-arm64); the version is pinned so that a
# deploy never picks up a new Powertools release unreviewed. Bump it from the table in the
# Powertools docs ("Lambda Layer" on the install page).
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = f"AWSLambdaPowertoolsPythonV3-{RUNTIME.name.replace('.', '')}-{ARCHITECTURE.name}"
POWERTOOLS_LAYER_VERSION = 38

# The functions' package: lambdas/kinesis_export (operator tooling lives in cli/, outside it), with the
# destination config beside it.
CODE_ROOT = ROOT / "lambdas"
CODE_PACKAGE = "kinesis_export"
HANDLER = "kinesis_export.handlers.export.handler"
# The connection check run at deployment (a custom resource), from the same package.
CHECK_HANDLER = "kinesis_export.handlers.check.handler"
# The backfill's Distributed Map worker: one batch of a JSON Lines file's items onto the stream.
BACKFILL_HANDLER = "kinesis_export.handlers.backfill.handler"
# Lambda starts the function in its code directory, so a relative path finds the packaged config.
CONFIG_FILE_IN_PACKAGE = "destination.json"

# Where the function's EMF metrics go (POWERTOOLS_METRICS_NAMESPACE); the dashboard reads them there.
METRICS_NAMESPACE = "KinesisExport"

# Queues: a dead letter or a reject waits the longest SQS allows for someone to look at it.
PARKED_MESSAGE_RETENTION = Duration.days(14)
# The oldest ingest message may be this old before the pipeline counts as falling behind. A
# failing message is retried every visibility timeout (six function timeouts), so this is
# roughly the second retry of a message with the default one-minute timeout.
INGEST_AGE_ALARM_THRESHOLD = Duration.minutes(15)

# The connection check runs once per deployment: up to three attempts 10 s apart (a role made in the
# same deployment takes seconds to work), each ListStreams (paged), perhaps after an AssumeRole or a
# secret read. A minute covers them and a slow page or two; the deployment waits for it.
CHECK_MEMORY_MB = 256
CHECK_TIMEOUT = Duration.minutes(1)


def role_path(destination: str) -> str:
    """The IAM path of the roles that write to a destination's stream: the exporter's and the check's.

    A fixed path instead of fixed role names: role names are global to an account, so a fixed name
    would stop a destination from deploying twice (two regions) and would have to fit 64 characters.
    The access stack's trust policy names this path (README, "Credentials modes").
    """
    return f"/kinesis-export/{destination}/"
