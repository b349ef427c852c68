"""The exporter: ingest queues, the function that drains them into the stream, and its permissions."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import HANDLER, PARKED_MESSAGE_RETENTION
from infra.function import function_role, package_function
from infra.nag import acknowledge
from infra.permissions import reach_stream, write_logs
from infra.profiles import keep_profile_state
from infra.stream import ExportStream
from kinesis_export.config import Credentials, DestinationConfig

# The function's logical ID, fixed so that `sam local invoke` and events/env.json can name it.
FUNCTION_LOGICAL_ID = "ExportFunction"
# Upstream systems publish qualification events with this detail-type.
EVENT_DETAIL_TYPE = "Segment Qualification"
# The message group of every event the EventBridge rule sends to a FIFO ingest queue. A rule's SQS target
# takes a fixed MessageGroupId only (SqsParameters: a string; EventBridge documents dynamic JSON paths for
# other targets' parameters, and for Pipes, not for a rule's SQS target), so the rule's events are one
# group: one total order, taken one batch at a time (README, "Delivery guarantees").
EVENT_BRIDGE_MESSAGE_GROUP = "eventbridge"

# CloudWatch Logs' retention periods, by days (the config accepts only these: LOG_RETENTION_DAYS).
RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


class Exporter(Construct):
    """SQS in, Kinesis out: the ingest queue with its dead-letter and rejects queues, the function,
    its event source mapping, and optionally an EventBridge rule that feeds the ingest queue and the
    idempotency table's use."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DestinationConfig,
        package: Path,
        stream: ExportStream,
        idempotency_table: dynamodb.ITable | None = None,
        profile_table: dynamodb.ITable | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        timeout = Duration.seconds(config.function.timeout_seconds)
        batching_window = Duration.seconds(config.ingest.max_batching_window_seconds)
        fifo = config.ingest.fifo

        # Messages that failed maxReceiveCount times: kept for inspection and redrive. A FIFO queue's
        # dead-letter queue must be FIFO too (SQS refuses a redrive policy that names a standard one).
        self.dead_letter_queue = self._parking_queue("DeadLetterQueue", fifo=fifo)
        self.ingest_queue = sqs.Queue(
            self,
            "IngestQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS's advice for an SQS event source: six times the function timeout plus the batching
            # window, so a message is not handed out again while a slow invocation still holds it.
            visibility_timeout=Duration.seconds(6 * timeout.to_seconds() + batching_window.to_seconds()),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=config.ingest.max_receive_count
            ),
            # With ingest.fifo, a FIFO queue. Content-based deduplication: a producer that sets no
            # MessageDeduplicationId (an EventBridge rule cannot set one) can still send, and an identical
            # body within SQS's 5 minutes is taken once (the same body holds the same events, same eventIds:
            # only duplicates on the stream). High throughput mode (deduplication and throughput per message
            # group, at no extra cost): without it a FIFO queue takes 300 calls a second per API action.
            fifo=fifo or None,
            content_based_deduplication=fifo or None,
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP if fifo else None,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID if fifo else None,
        )
        # Messages that can never be exported as they are (invalid input), parked by the function
        # unchanged with the reason beside them, instead of being retried into the dead-letter queue.
        self.rejects_queue = self._parking_queue("RejectsQueue")
        acknowledge(
            self.rejects_queue,
            "AwsSolutions-SQS3",
            "The rejects queue is itself a dead-letter queue for invalid input (the function parks messages "
            "there with the reason); a queue behind it would only hide them.",
        )

        self.log_group = logs.LogGroup(self, "LogGroup", retention=RETENTION_DAYS[config.function.log_retention_days])
        self.role = function_role(
            self,
            "Role",
            config=config,
            description=f"Kinesis export {config.name}: read the ingest queue, write the stream",
            policy_name="Export",
            statements=[
                *self._statements(stream, config.credentials, idempotency_table, continues=not fifo),
                *([keep_profile_state(profile_table)] if profile_table else []),
            ],
        )

        self.function = package_function(
            self,
            "Function",
            package=package,
            handler=HANDLER,
            description=f"Exports segment qualification events of {config.name} to Kinesis stream {stream.stream_name}",
            role=self.role,
            log_group=self.log_group,
            memory_size=config.function.memory_mb,
            timeout=timeout,
            tracing=config.function.tracing,
            environment={
                "REJECTS_QUEUE_URL": self.rejects_queue.queue_url,
                # The rest of a long message goes back to the ingest queue; never to a FIFO one, where it
                # would queue behind the later messages of its group.
                **({} if fifo else {"INGEST_QUEUE_URL": self.ingest_queue.queue_url}),
                **({"IDEMPOTENCY_TABLE_NAME": idempotency_table.table_name} if idempotency_table else {}),
                **({"PROFILE_TABLE_NAME": profile_table.table_name} if profile_table else {}),
            },
        )
        cast(lambda_.CfnFunction, self.function.node.default_child).override_logical_id(FUNCTION_LOGICAL_ID)
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "The function is invoked synchronously by the SQS event source mapping, and a function's "
            "dead-letter queue only catches asynchronous invocations. Messages that keep failing go to the ingest "
            "queue's dead-letter queue (maxReceiveCount), invalid ones to the rejects queue.",
        )
        if config.function.tracing:
            acknowledge(
                cast(iam.CfnPolicy, self.role.node.find_child("DefaultPolicy").node.default_child),
                "AwsSolutions-IAM5[Resource::*]",
                "Active tracing: Lambda adds xray:PutTraceSegments and xray:PutTelemetryRecords, which have "
                "no resource-level permissions, so IAM accepts only Resource '*' for them.",
            )
        else:
            acknowledge(
                self.function,
                "Serverless-LambdaTracing",
                "Tracing is switched per destination (function.tracing) and off by default to spare X-Ray's "
                "cost; the EMF metrics, the dashboard and JSON logs with a correlation id cover each batch.",
            )

        mapping = lambda_.EventSourceMapping(
            self,
            "IngestMapping",
            target=self.function,
            event_source_arn=self.ingest_queue.queue_arn,
            batch_size=config.ingest.batch_size,
            # Lambda takes no batching window from a FIFO queue: the property is left out.
            max_batching_window=None if fifo else batching_window,
            max_concurrency=config.ingest.max_concurrency,
            # Only the messages the function names come back; the rest of the batch is deleted.
            report_batch_item_failures=True,
        )
        acknowledge(
            mapping,
            "Serverless-LambdaEventSourceMappingDestination",
            "On-failure destinations are for stream sources (Kinesis, DynamoDB, Kafka). An SQS source fails "
            "over through the queue's own redrive policy into the dead-letter queue.",
        )

        # With a FIFO ingest queue and a rule: the events EventBridge could not deliver. EventBridge takes
        # only a standard queue as a rule target's dead-letter queue, so not the ingest queue's.
        self.undelivered_queue: sqs.Queue | None = None
        if config.event_bridge is not None:
            undelivered = self.dead_letter_queue
            if fifo:
                self.undelivered_queue = undelivered = self._parking_queue("UndeliveredEventsQueue")
                acknowledge(
                    undelivered,
                    "AwsSolutions-SQS3",
                    "The queue is itself a dead-letter queue: the EventBridge rule's, for events it could not "
                    "deliver to the FIFO ingest queue (EventBridge takes only a standard queue there).",
                )
            events.Rule(
                self,
                "SegmentQualificationRule",
                description=f"Routes {EVENT_DETAIL_TYPE} events into the ingest queue of {config.name}",
                event_bus=events.EventBus.from_event_bus_name(self, "Bus", config.event_bridge.bus_name),
                event_pattern=events.EventPattern(detail_type=[EVENT_DETAIL_TYPE]),
                # Adds the ingest queue's policy that lets this rule (and only it) send.
                targets=[
                    targets.SqsQueue(
                        self.ingest_queue,
                        dead_letter_queue=undelivered,
                        message_group_id=EVENT_BRIDGE_MESSAGE_GROUP if fifo else None,
                    )
                ],
            )

    def _parking_queue(self, construct_id: str, *, fifo: bool = False) -> sqs.Queue:
        """A queue where messages wait for a person, as long as SQS allows."""
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=PARKED_MESSAGE_RETENTION,
            fifo=fifo or None,
        )
        acknowledge(
            queue,
            "Serverless-SQSRedrivePolicy",
            "A parking queue is the end of the line: nothing consumes it automatically, so there is no "
            "failure to redrive from. Its depth alarm calls a person, who redrives by hand.",
        )
        return queue

    def _statements(
        self,
        stream: ExportStream,
        credentials: Credentials,
        idempotency_table: dynamodb.ITable | None,
        *,
        continues: bool,
    ) -> list[iam.PolicyStatement]:
        """The function's permissions, action by action on exact resources: the stream's (by
        credentials mode), then the queues' (sending to the ingest queue only when long messages are
        continued: not from a FIFO queue), its logs', and the idempotency table's if any."""
        statements = [
            *reach_stream(credentials, stream.stream_arn, stream.encryption_key_arn),
            iam.PolicyStatement(
                sid="ParkRejects", actions=["sqs:SendMessage"], resources=[self.rejects_queue.queue_arn]
            ),
            # What Lambda's SQS poller needs (the same three actions as AWSLambdaSQSQueueExecutionRole).
            iam.PolicyStatement(
                sid="ConsumeIngestQueue",
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                resources=[self.ingest_queue.queue_arn],
            ),
            # The unfinished rest of a message too long for one invocation goes back as a new message.
            *(
                [
                    iam.PolicyStatement(
                        sid="ContinueLongMessages",
                        actions=["sqs:SendMessage"],
                        resources=[self.ingest_queue.queue_arn],
                    )
                ]
                if continues
                else []
            ),
            write_logs(self.log_group),
        ]
        if idempotency_table is not None:
            # What Powertools' DynamoDB persistence layer calls: a conditional PutItem to claim an
            # eventId, UpdateItem to complete it, DeleteItem to forget a failed one, GetItem to read one.
            statements.append(
                iam.PolicyStatement(
                    sid="TrackEventIds",
                    actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                    resources=[idempotency_table.table_arn],
                )
            )
        return statements
