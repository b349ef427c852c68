"""The destination stream: created by the pipeline, or an existing one it only writes to."""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.nag import acknowledge
from kinesis_export.config import MIN_RECORD_SIZE_KIB, StreamConfig


class ExportStream(Construct):
    """Creates the stream when `stream.create` is true; otherwise only names it by ARN.

    An existing stream is referenced by account, name and region alone: nothing about it (shards,
    encryption, retention) is assumed, and nothing is created or changed. Its account is the
    stack's unless `account` says otherwise (the assumed role's, in assumeRole mode).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StreamConfig, account: str | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream_name = config.name
        # A customer key the writer must be allowed to use; None for the AWS-managed key.
        self.encryption_key_arn = config.kms_key_arn
        self.created = config.create

        if not config.create:
            self.stream_arn = Stack.of(self).format_arn(
                service="kinesis",
                account=account,
                region=config.region or Stack.of(self).region,
                resource="stream",
                resource_name=config.name,
            )
            return

        if config.kms_key_arn is None:
            encryption = kinesis.StreamEncryption.MANAGED
            encryption_key = None
        else:
            encryption = kinesis.StreamEncryption.KMS
            encryption_key = kms.Key.from_key_arn(self, "EncryptionKey", config.kms_key_arn)
        stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=config.name,
            # On-demand scales with the traffic; a shard count asks for a provisioned stream.
            stream_mode=kinesis.StreamMode.ON_DEMAND if config.shards is None else kinesis.StreamMode.PROVISIONED,
            shard_count=config.shards,
            retention_period=Duration.hours(config.retention_hours),
            encryption=encryption,
            encryption_key=encryption_key,
        )
        if config.max_record_size_kib > MIN_RECORD_SIZE_KIB:
            # Kinesis's MaxRecordSizeInKiB, which the L2 Stream has no property for. Left out at the default
            # (1 MiB), so that the templates of streams that take 1 MiB records stay as they were.
            cast(kinesis.CfnStream, stream.node.default_child).max_record_size_in_kib = config.max_record_size_kib
        if encryption_key is not None:
            acknowledge(
                stream,
                "AwsSolutions-KDS3",
                "The destination's config names a customer-managed key (stream.kmsKeyArn), whose key policy "
                "its owner controls; without one the stream uses the AWS-managed key alias/aws/kinesis.",
            )
        self.stream_arn = stream.stream_arn
