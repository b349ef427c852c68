"""One destination's export pipeline as a stack: it composes the constructs, tags them and adds outputs."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from infra.alarms import AlarmNotifications
from infra.backfill import Backfill
from infra.check import ConnectionCheck
from infra.exporter import Exporter
from infra.idempotency import IdempotencyTable
from infra.monitoring import Monitoring
from infra.profiles import ProfileTable
from infra.stream import ExportStream
from kinesis_export.config import AssumeRole, DestinationConfig

PROJECT = "kinesis-segment-export"


class ExportStack(Stack):
    """`KinesisExport-<name>`: the stream (or a reference to it), the exporter, its monitoring, the
    connection check that runs at each deployment, and with `backfill` the backfill at scale."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DestinationConfig,
        package: Path,
        env: Environment | None = None,
    ) -> None:
        summary = f"Kinesis export pipeline for destination {config.name}"
        super().__init__(
            scope,
            construct_id,
            env=env,
            # CloudFormation takes at most 1024 characters.
            description=(f"{summary}: {config.description}" if config.description else summary)[:1024],
        )
        # In assumeRole mode an existing stream is in the assumed role's account.
        stream_account = config.credentials.role_account_id if isinstance(config.credentials, AssumeRole) else None
        stream = ExportStream(self, "Stream", config=config.stream, account=stream_account)
        idempotency = IdempotencyTable(self, "Idempotency") if config.idempotency is not None else None
        profiles = ProfileTable(self, "Profiles") if config.profile_state is not None else None
        profile_table = profiles.table if profiles is not None else None
        exporter = Exporter(
            self,
            "Exporter",
            config=config,
            package=package,
            stream=stream,
            idempotency_table=idempotency.table if idempotency is not None else None,
            profile_table=profile_table,
        )
        ConnectionCheck(self, "ConnectionCheck", config=config, package=package, stream=stream)
        monitoring = Monitoring(self, "Monitoring", destination=config.name, exporter=exporter, alarms=config.alarms)
        notifications = AlarmNotifications(
            self, "Notifications", destination=config.name, config=config.alarms, alarms=monitoring.alarms
        )

        Tags.of(self).add("project", PROJECT)
        Tags.of(self).add("destination", config.name)

        for output_id, value, description in (
            ("IngestQueueUrl", exporter.ingest_queue.queue_url, "Where upstream systems send segment events"),
            ("IngestQueueArn", exporter.ingest_queue.queue_arn, "The ingest queue's ARN, for producers' IAM policies"),
            ("DeadLetterQueueUrl", exporter.dead_letter_queue.queue_url, "Messages that failed every retry"),
            ("RejectsQueueUrl", exporter.rejects_queue.queue_url, "Invalid messages, parked with the reason"),
            ("StreamName", stream.stream_name, "The Kinesis stream the records go to"),
            ("StreamArn", stream.stream_arn, "The Kinesis stream's ARN, for consumers' IAM policies"),
            ("FunctionName", exporter.function.function_name, "The exporter function"),
            ("DashboardUrl", monitoring.dashboard_url, "The pipeline's CloudWatch dashboard"),
            ("AlarmTopicArn", notifications.topic.topic_arn, "The SNS topic the alarms notify, on ALARM and OK"),
        ):
            CfnOutput(self, output_id, value=value, description=description)
        if exporter.undelivered_queue is not None:
            CfnOutput(
                self,
                "UndeliveredEventsQueueUrl",
                value=exporter.undelivered_queue.queue_url,
                description="Events the EventBridge rule could not deliver to the FIFO ingest queue",
            )
        if profile_table is not None:
            CfnOutput(
                self,
                "ProfileTableName",
                value=profile_table.table_name,
                description="The profile state table (profileState); the backfill command's --profile-table",
            )

        if config.backfill is not None:
            backfill = Backfill(
                self,
                "Backfill",
                config=config,
                backfill=config.backfill,
                package=package,
                stream=stream,
                profile_table=profile_table,
            )
            for output_id, value, description in (
                ("BackfillBucketName", backfill.bucket.bucket_name, "The bucket backfill files go to"),
                (
                    "BackfillUri",
                    f"s3://{backfill.bucket.bucket_name}/{backfill.prefix}",
                    "Put a members .jsonl file here to start a backfill; results go under results/",
                ),
                ("BackfillStateMachineArn", backfill.state_machine.state_machine_arn, "The backfill state machine"),
            ):
                CfnOutput(self, output_id, value=value, description=description)
