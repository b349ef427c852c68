"""Statements more than one role holds: writing to the stream, and reaching it with the config's credentials."""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from infra.nag import acknowledge
from kinesis_export.config import AccessKey, AssumeRole, Credentials, ExecutionRole

# ListStreams has no resource-level permissions: IAM accepts only "*" for it. The connection check
# (the deploy-time function and `kinesis-export check`) finds the stream with it: the one read
# permission the policy grants.
LIST_STREAMS_REASON = (
    "kinesis:ListStreams has no resource-level permissions, so IAM accepts only Resource '*' for it. "
    "Every other statement names its exact resource, and no action is a wildcard."
)


def write_logs(log_group: logs.ILogGroup) -> iam.PolicyStatement:
    """A function's logging: its log group exists before it, so no CreateLogGroup; the group's ARN
    ends in ":*", which covers its log streams."""
    return iam.PolicyStatement(
        sid="WriteLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
    )


def list_streams() -> iam.PolicyStatement:
    return iam.PolicyStatement(sid="ListStreams", actions=["kinesis:ListStreams"], resources=["*"])


def write_stream(stream_arn: str, encryption_key_arn: str | None) -> list[iam.PolicyStatement]:
    """What writing to the stream takes: ListStreams, PutRecord(s) on the stream, its customer key's data keys."""
    statements = [
        list_streams(),
        iam.PolicyStatement(
            sid="WriteStream", actions=["kinesis:PutRecord", "kinesis:PutRecords"], resources=[stream_arn]
        ),
    ]
    if encryption_key_arn is not None:
        # Writing to a stream encrypted with a customer key needs a data key from that key.
        statements.append(
            iam.PolicyStatement(sid="EncryptRecords", actions=["kms:GenerateDataKey"], resources=[encryption_key_arn])
        )
    return statements


def read_max_record_size(stream_arn: str) -> iam.PolicyStatement:
    """The connection check's read of the stream's largest record (StreamConfig.reads_max_record_size)."""
    return iam.PolicyStatement(
        sid="ReadMaxRecordSize", actions=["kinesis:DescribeStreamSummary"], resources=[stream_arn]
    )


def reach_credentials(credentials: AssumeRole | AccessKey) -> iam.PolicyStatement:
    """What a role needs to get the credentials that write to the stream: assume the role, or read the key."""
    if isinstance(credentials, AssumeRole):
        return iam.PolicyStatement(sid="AssumeStreamRole", actions=["sts:AssumeRole"], resources=[credentials.role_arn])
    # The secret must be encrypted with the AWS-managed key aws/secretsmanager: a customer key would
    # also need kms:Decrypt on it, which the config does not name.
    return iam.PolicyStatement(
        sid="ReadAccessKey", actions=["secretsmanager:GetSecretValue"], resources=[credentials.secret_arn]
    )


def reach_stream(
    credentials: Credentials, stream_arn: str, encryption_key_arn: str | None
) -> list[iam.PolicyStatement]:
    """What a role that writes records holds for the stream, by credentials mode.

    With its own role (executionRole) it writes to the stream itself. Otherwise it only gets the
    credentials that do: the assumed role, or the access key's IAM user, holds the stream's
    permissions, and this role holds none of them.
    """
    if isinstance(credentials, ExecutionRole):
        return write_stream(stream_arn, encryption_key_arn)
    return [reach_credentials(credentials)]


def acknowledge_list_streams(role: iam.Role, *, function_role: bool) -> None:
    """Accept the findings on the ListStreams statement's Resource '*' (only where a role holds it)."""
    rules = ["AwsSolutions-IAM5[Resource::*]"]
    if function_role:
        rules.append("Serverless-LambdaStarPermissions")
    # On the role's own resource (its inline policy), not on what a helper may attach beside it.
    for rule in rules:
        acknowledge(cast(iam.CfnRole, role.node.default_child), rule, LIST_STREAMS_REASON)
