"""The connection check: what AEP checks when a Kinesis destination is configured, and a bit more.

With the credentials the function will use: they resolve, the stream exists and is active
(found with kinesis:ListStreams, the one read permission the policy grants), an existing stream
takes records as large as stream.maxRecordSizeKiB says (read with kinesis:DescribeStreamSummary,
only when that is over 1 MiB), and, on request, one marked probe record goes through PutRecord.
Every failure is one line naming the setting or the permission to fix.

`describe_failure` words the ordinary failures of any AWS call in one line, for the check and
for every command; AWS's own message is left out where it names the caller (access denied).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from .config import MIN_RECORD_SIZE_KIB, AccessKey, AssumeRole, DestinationConfig
from .credentials import SecretError, session_for

PROBE_PARTITION_KEY = "kinesis-export-probe"
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException")
# The commands' clients: short timeouts and a few retries, so that no network is an answer within seconds.
COMMAND_CLIENT = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})
NO_REGION = "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION"
NO_CREDENTIALS = "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


@dataclass
class CheckReport:
    stream_arn: str | None = None
    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_connection(config: DestinationConfig, region: str | None, *, probe: bool = False) -> CheckReport:
    """Check credentials, stream and (with probe) PutRecord, as the function would use them."""
    report = CheckReport()
    stream_region = config.stream.region or region
    if not stream_region:
        report.problems.append(f"{NO_REGION}, or stream.region in the config")
        return report
    session = session_for(config)
    credentials = session.get_credentials()
    if credentials is None:
        report.problems.append(f"credentials ({config.credentials.mode}): {NO_CREDENTIALS}")
        return report
    try:
        credentials.get_frozen_credentials()  # resolved now, so that a failure names the credentials
    except (ClientError, BotoCoreError, SecretError) as error:
        report.problems.append(_credentials_problem(config, error))
        return report
    report.passed.append(f"credentials resolve ({config.credentials.mode})")

    kinesis = session.client("kinesis", region_name=stream_region, config=COMMAND_CLIENT)
    try:
        summary = _find_stream(kinesis, config.stream.name)
    except (ClientError, BotoCoreError) as error:
        report.problems.append(_denied_or_failed(error, "kinesis:ListStreams", stream_region))
        return report
    if summary is None:
        report.problems.append(
            f"stream.name: no stream named {config.stream.name!r} in {stream_region} for these credentials"
        )
        return report
    report.stream_arn = summary["StreamARN"]
    if summary["StreamStatus"] not in ("ACTIVE", "UPDATING"):
        report.problems.append(f"stream.name: stream {config.stream.name!r} is {summary['StreamStatus']}, not ACTIVE")
        return report
    report.passed.append(f"stream {config.stream.name} is {summary['StreamStatus']} in {stream_region}")

    if config.stream.reads_max_record_size:
        ok, line = _check_max_record_size(kinesis, config, report.stream_arn, stream_region)
        if not ok:
            report.problems.append(line)
            return report
        report.passed.append(line)

    if probe:
        data = {"kinesisExportProbe": {"destination": config.name, "at": datetime.now(UTC).isoformat()}}
        try:
            kinesis.put_record(StreamName=config.stream.name, PartitionKey=PROBE_PARTITION_KEY, Data=json.dumps(data))
        except (ClientError, BotoCoreError) as error:
            report.problems.append(_denied_or_failed(error, "kinesis:PutRecord", stream_region))
            return report
        report.passed.append(f"probe record written (partition key {PROBE_PARTITION_KEY})")
    return report


def _check_max_record_size(
    kinesis: object, config: DestinationConfig, stream_arn: str, region: str
) -> tuple[bool, str]:
    """Whether the stream takes records as large as stream.maxRecordSizeKiB says, and the line saying so.

    If not, the writer would send records the stream refuses: each would fail, and go to the dead-letter queue.
    """
    said = config.stream.max_record_size_kib
    try:
        summary = kinesis.describe_stream_summary(StreamARN=stream_arn)["StreamDescriptionSummary"]  # type: ignore[attr-defined]
    except (ClientError, BotoCoreError) as error:
        problem = _denied_or_failed(error, "kinesis:DescribeStreamSummary", region)
        if isinstance(error, ClientError) and _code(error) in DENIED:
            problem += f" (the check reads the stream's largest record with it, as stream.maxRecordSizeKiB is {said})"
        return False, problem
    # Absent where Kinesis answers without it: every stream takes 1 MiB unless configured for more.
    taken = int(summary.get("MaxRecordSizeInKiB") or MIN_RECORD_SIZE_KIB)
    name = config.stream.name
    if taken < said:
        return False, (
            f"stream.maxRecordSizeKiB: the config says {said} KiB, stream {name!r} takes at most {taken} KiB: "
            "raise it with UpdateMaxRecordSize or lower the setting"
        )
    return True, f"stream {name} takes records of up to {taken} KiB (stream.maxRecordSizeKiB: {said})"


def _find_stream(kinesis: object, name: str) -> dict[str, str] | None:
    """The stream's summary from ListStreams (paged), or None."""
    paginator = kinesis.get_paginator("list_streams")  # type: ignore[attr-defined]
    for page in paginator.paginate():
        for summary in page.get("StreamSummaries", []):
            if summary["StreamName"] == name:
                return dict(summary)
    return None


def _credentials_problem(config: DestinationConfig, error: Exception) -> str:
    credentials = config.credentials
    if isinstance(error, SecretError):
        return f"credentials.secretArn: {error}"
    reason = _reason(error)
    if isinstance(credentials, AssumeRole):
        return (
            f"credentials.roleArn: cannot assume {credentials.role_arn} ({reason}); check sts:AssumeRole on it for "
            "these credentials, and the role's trust policy and external ID"
        )
    if isinstance(credentials, AccessKey):
        return f"credentials.secretArn: cannot read the access key from {credentials.secret_arn} ({reason})"
    return f"credentials: {reason}"


def _denied_or_failed(error: ClientError | BotoCoreError, action: str, region: str) -> str:
    if isinstance(error, ClientError) and _code(error) in DENIED:
        return f"permission: {action} denied in {region} ({_reason(error)}); grant it to these credentials"
    if isinstance(error, BotoCoreError):
        return f"{action} in {region}: {describe_failure(error)}"
    return f"{action} failed in {region}: {_reason(error)}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _reason(error: Exception) -> str:
    """An error's code and AWS's message; only the code when access is denied (the message names the caller)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        if details.get("Code") in DENIED:
            return str(details["Code"])
        return f"{details.get('Code', 'error')}: {details.get('Message', '')}".rstrip(": ")
    return str(error)


def describe_failure(error: Exception) -> str:
    """An AWS call's ordinary failure in one line that says what to do, free of personal data."""
    if isinstance(error, NoRegionError):
        return NO_REGION
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, _UNREACHABLE):
        endpoint = error.kwargs.get("endpoint_url", "the AWS endpoint")
        return f"cannot reach {endpoint} ({type(error).__name__}): check the network, a proxy, or AWS_ENDPOINT_URL"
    if isinstance(error, ClientError):
        code, action = _code(error) or "error", error.operation_name
        if code in DENIED:
            return f"access denied to {action} ({code}): grant it to the credentials in use"
        if code in _REJECTED_CREDENTIALS:
            return f"AWS refused the credentials in use ({code}): they are invalid or expired; renew them"
        return f"{action} failed: {_reason(error)}"
    return str(error)


_REJECTED_CREDENTIALS = (
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
)
