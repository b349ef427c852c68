"""Backfill at scale: a JSON Lines file put in the backfill bucket runs through a Step Functions Distributed Map.

S3 reports the new object to EventBridge; a rule starts the state machine with {bucket, key}; its
Distributed Map reads the file in batches and hands each batch to the worker function, which
exports it with the same code, package and credentials as the exporter. Step Functions does the
fan-out, the retries and the bookkeeping: failed batches are retried, and every batch's outcome
is written to the bucket under results/.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constants import BACKFILL_HANDLER
from infra.exporter import RETENTION_DAYS
from infra.function import function_role, package_function
from infra.nag import acknowledge
from infra.permissions import reach_stream, write_logs
from infra.profiles import keep_profile_state
from infra.stream import ExportStream
from kinesis_export.config import BackfillConfig, DestinationConfig

# Fixed logical IDs: `sam local invoke BackfillFunction` can name the worker, like the exporter, and
# the nag findings on the statements that name these resources read the same in every stack.
WORKER_FUNCTION_LOGICAL_ID = "BackfillFunction"
BUCKET_LOGICAL_ID = "BackfillBucket"
STATE_MACHINE_LOGICAL_ID = "BackfillStateMachine"
# Where the Distributed Map writes each run's results (manifest.json, SUCCEEDED_*.json, FAILED_*.json).
# JSON, not JSON Lines: a results file never matches the rule, whatever the backfill prefix.
RESULTS_PREFIX = "results/"
# One batch fills one PutRecords call (500 records at most)...
MAX_ITEMS_PER_BATCH = 500
# ...unless its items would not fit in one child execution's input (256 KiB at most): a little
# under that, to leave room for what wraps them ({"Items": [...]}). Step Functions then makes the
# batch smaller, not the run fail; with events of about 600 bytes a batch holds about 400.
MAX_BYTES_PER_BATCH = 240 * 1024
# A few failed batches (after their retries) leave the run going, and the execution succeeds with
# them listed in results/<run>/FAILED_*.json. More than this share of the file failing is systemic
# (credentials, the stream, a throttled account): the run stops instead of grinding through the
# file, the execution fails, and `aws stepfunctions redrive-execution` reruns the failed and
# unstarted batches once the cause is fixed.
TOLERATED_FAILURE_PERCENTAGE = 10

# Concurrent batches when the config does not say (backfill.maxConcurrency), from the stream's
# capacity. A shard takes 1,000 records (and 1 MiB) a second. A batch is 500 records spread over
# the shards by partition key, and takes a worker an invocation, the records' building and one
# PutRecords call: with one batch in flight per shard, each shard gets 500 records per batch
# time, within its limit as long as a batch takes half a second or more (an estimate, not
# measured in AWS), and the writer backs off on any throttling left. An on-demand stream starts
# with the capacity of 4 shards (4,000 records a second) and scales up behind its traffic. An
# existing stream's shards are not known at synthesis (nothing is looked up), so it gets a
# conservative 2.
ON_DEMAND_CONCURRENCY = 4
EXISTING_STREAM_CONCURRENCY = 2


def max_concurrency(config: DestinationConfig) -> int:
    """How many batches the Distributed Map runs at once: the config's, else one from the stream's capacity."""
    if config.backfill is not None and config.backfill.max_concurrency is not None:
        return config.backfill.max_concurrency
    if not config.stream.create:
        return EXISTING_STREAM_CONCURRENCY
    return config.stream.shards or ON_DEMAND_CONCURRENCY


def file_key_pattern(prefix: str) -> str:
    """The rule's wildcard pattern for the files to export: under the prefix, ending in .jsonl.

    A '*' in the prefix (S3 allows it in keys) is escaped, so that it matches itself only.
    """
    return prefix.replace("*", "\\*") + "*.jsonl"


def objects_under(prefix: str) -> str:
    """An IAM resource's key pattern for every object under the prefix; '${*}' is IAM's literal '*'."""
    return prefix.replace("*", "${*}") + "*"


class Backfill(Construct):
    """The backfill bucket, the rule on its new files, the state machine and its worker function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DestinationConfig,
        backfill: BackfillConfig,
        package: Path,
        stream: ExportStream,
        profile_table: dynamodb.ITable | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        retention = RETENTION_DAYS[config.function.log_retention_days]
        self.prefix = backfill.prefix

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # Files and results hold profiles' identities: they go after retentionDays, and an
            # upload that never completed after a day.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="Expire",
                    expiration=Duration.days(backfill.retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # Kept when the stack is deleted, like the stream and the logs: its results are the
            # record of what each backfill did. The lifecycle rule stays with it and empties it.
            removal_policy=RemovalPolicy.RETAIN,
        )
        cfn_bucket = cast(s3.CfnBucket, self.bucket.node.default_child)
        cfn_bucket.override_logical_id(BUCKET_LOGICAL_ID)
        # EventBridge notifications set on the bucket resource itself: `event_bridge_enabled` would
        # set them through CDK's notifications custom resource, a Lambda function with a managed
        # policy and s3:PutBucketNotification on every bucket.
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "A drop zone for backfill files that expire after backfill.retentionDays. Every file put under the "
            "prefix starts an execution whose history and logs name it, and the results record what became of "
            "each batch. Object-level access auditing is CloudTrail data events' job, set per account across "
            "buckets; a log bucket per destination would be one more bucket of personal data to keep.",
        )

        self.worker = self._worker(config, package, stream, retention, profile_table)
        self.state_machine = self._state_machine(config, retention)

        rule = events.Rule(
            self,
            "FileRule",
            description=f"Starts the backfill of {config.name} for each .jsonl file put under {backfill.prefix}",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.bucket.bucket_name]},
                    "object": {"key": [{"wildcard": file_key_pattern(backfill.prefix)}]},
                },
            ),
            targets=[
                # CDK gives the target a role of its own, with states:StartExecution on this state machine.
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object(
                        {
                            "bucket": events.EventField.from_path("$.detail.bucket.name"),
                            "key": events.EventField.from_path("$.detail.object.key"),
                        }
                    ),
                )
            ],
        )
        acknowledge(
            rule,
            "Serverless-EventBusDLQ",
            "The event only names a file, which stays in the bucket. Should EventBridge fail to start the state "
            "machine through all its retries (24 hours), the operator who put the file sees no execution and "
            "starts one by hand with the same bucket and key (README), with nothing lost.",
        )

    def _worker(
        self,
        config: DestinationConfig,
        package: Path,
        stream: ExportStream,
        retention: logs.RetentionDays,
        profile_table: dynamodb.ITable | None,
    ) -> lambda_.Function:
        """The exporter's package, runtime, layer, settings and stream permissions, with the backfill handler;
        with profileState, the profile state table (a backfill seeds it)."""
        self.worker_log_group = logs.LogGroup(self, "WorkerLogGroup", retention=retention)
        role = function_role(
            self,
            "WorkerRole",
            config=config,
            description=f"Kinesis export {config.name}: write backfill batches to the stream",
            policy_name="Backfill",
            statements=[
                *reach_stream(config.credentials, stream.stream_arn, stream.encryption_key_arn),
                write_logs(self.worker_log_group),
                *([keep_profile_state(profile_table)] if profile_table else []),
            ],
        )

        worker = package_function(
            self,
            "Worker",
            package=package,
            handler=BACKFILL_HANDLER,
            description=f"Exports backfill batches of {config.name} to Kinesis stream {stream.stream_name}",
            role=role,
            log_group=self.worker_log_group,
            memory_size=config.function.memory_mb,
            timeout=Duration.seconds(config.function.timeout_seconds),
            tracing=config.function.tracing,
            environment={"PROFILE_TABLE_NAME": profile_table.table_name} if profile_table else None,
        )
        cast(lambda_.CfnFunction, worker.node.default_child).override_logical_id(WORKER_FUNCTION_LOGICAL_ID)
        acknowledge(
            worker,
            "Serverless-LambdaDLQ",
            "Step Functions invokes the worker synchronously and retries a failed batch itself; a batch that "
            "fails every retry is listed in the run's results. A dead-letter queue only catches asynchronous "
            "invocations.",
        )
        if config.function.tracing:
            acknowledge(
                cast(iam.CfnPolicy, role.node.find_child("DefaultPolicy").node.default_child),
                "AwsSolutions-IAM5[Resource::*]",
                "Active tracing: Lambda adds xray:PutTraceSegments and xray:PutTelemetryRecords, which have "
                "no resource-level permissions, so IAM accepts only Resource '*' for them.",
            )
        else:
            acknowledge(
                worker,
                "Serverless-LambdaTracing",
                "Tracing follows the exporter's switch (function.tracing), off by default to spare X-Ray's cost; "
                "each batch's outcome is in the run's results, the execution history and JSON logs.",
            )
        return worker

    def _state_machine(self, config: DestinationConfig, retention: logs.RetentionDays) -> sfn.StateMachine:
        """A standard state machine: one Distributed Map over the file's lines, in batches, to the worker."""
        export_batch = tasks.LambdaInvoke(
            self,
            "ExportBatch",
            lambda_function=self.worker,
            # The batch's result ({exported, filtered, rejected}) is the child execution's output.
            payload_response_only=True,
            # One retrier below covers Lambda's own errors as well.
            retry_on_service_exceptions=False,
        )
        # Any failure of the task: Lambda throttled or failing, or the worker raising because records
        # were not written after the writer's own retries. The whole batch is sent again (records
        # already written are sent twice); jitter keeps concurrent batches from retrying in step.
        export_batch.add_retry(
            errors=[sfn.Errors.TASKS_FAILED],
            interval=Duration.seconds(5),
            backoff_rate=2,
            max_attempts=5,
            max_delay=Duration.minutes(1),
            jitter_strategy=sfn.JitterType.FULL,
        )

        export_file = sfn.DistributedMap(
            self,
            "ExportFile",
            # The bucket comes from the execution's input, like the key: the reader then adds no
            # statement of its own, and the role's (below) names only the backfill prefix.
            item_reader=sfn.S3JsonLItemReader(
                bucket_name_path=sfn.JsonPath.string_at("$.bucket"), key=sfn.JsonPath.string_at("$.key")
            ),
            item_batcher=sfn.ItemBatcher(
                max_items_per_batch=MAX_ITEMS_PER_BATCH, max_input_bytes_per_batch=MAX_BYTES_PER_BATCH
            ),
            max_concurrency=max_concurrency(config),
            tolerated_failure_percentage=TOLERATED_FAILURE_PERCENTAGE,
            result_writer_v2=_ResultsWriter(bucket=self.bucket, prefix=RESULTS_PREFIX),
        )
        export_file.item_processor(export_batch)

        self.log_group = logs.LogGroup(self, "StateMachineLogGroup", retention=retention)
        role = iam.Role(
            self,
            "StateMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Kinesis export {config.name}: read backfill files, run their batches, write results",
            inline_policies={
                "Backfill": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadFiles",
                            actions=["s3:GetObject"],
                            resources=[self.bucket.arn_for_objects(objects_under(self.prefix))],
                        ),
                        # What the result writer needs: results go up in parts, read back to assemble.
                        iam.PolicyStatement(
                            sid="WriteResults",
                            actions=[
                                "s3:PutObject",
                                "s3:GetObject",
                                "s3:ListMultipartUploadParts",
                                "s3:AbortMultipartUpload",
                            ],
                            resources=[self.bucket.arn_for_objects(objects_under(RESULTS_PREFIX))],
                        ),
                    ]
                )
            },
        )
        # CDK adds the rest itself: lambda:InvokeFunction on the worker (default policy); the
        # Distributed Map's states:StartExecution on this state machine and Describe, Stop and
        # RedriveExecution on its runs (DistributedMapPolicy); log delivery; with tracing, X-Ray.
        state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(export_file),
            state_machine_type=sfn.StateMachineType.STANDARD,
            role=role,
            # Every event, without the states' input and output: those are the profiles themselves.
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=config.function.tracing,
        )
        cast(sfn.CfnStateMachine, state_machine.node.default_child).override_logical_id(STATE_MACHINE_LOGICAL_ID)
        self._acknowledge_state_machine(state_machine, role, tracing=config.function.tracing)
        return state_machine

    def _acknowledge_state_machine(self, state_machine: sfn.StateMachine, role: iam.Role, *, tracing: bool) -> None:
        """Accept the findings on the state machine and on the statements of its role."""
        for prefix, reason in (
            (self.prefix, "The Distributed Map reads whichever file was put under the backfill prefix"),
            (RESULTS_PREFIX, "The Distributed Map writes each run's result files under results/<run>/"),
        ):
            acknowledge(
                cast(iam.CfnRole, role.node.default_child),
                f"AwsSolutions-IAM5[Resource::<{BUCKET_LOGICAL_ID}.Arn>/{objects_under(prefix)}]",
                f"{reason}: object keys are only known at run time, so the statement names the prefix "
                "in this one bucket, not the whole bucket.",
            )
        default_policy = cast(iam.CfnPolicy, role.node.find_child("DefaultPolicy").node.default_child)
        acknowledge(
            default_policy,
            f"AwsSolutions-IAM5[Resource::<{WORKER_FUNCTION_LOGICAL_ID}.Arn>:*]",
            "Added by CDK's LambdaInvoke task: lambda:InvokeFunction on the worker and its versions (':*'), "
            "the one function the state machine runs.",
        )
        acknowledge(
            default_policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Added by CDK for the state machine's logging: the CloudWatch Logs log-delivery actions "
            "(logs:CreateLogDelivery and the like) have no resource-level permissions, so IAM accepts only "
            "Resource '*' for them"
            + (
                "; and with tracing, xray:PutTraceSegments, xray:PutTelemetryRecords, xray:GetSamplingRules "
                "and xray:GetSamplingTargets, which have none either."
                if tracing
                else "."
            ),
        )
        # The executions' ARN as cdk-nag prints it in the finding: the stack's partition, region and
        # account as literals when the stack has them, else as pseudo parameters; the state machine's
        # name as the intrinsic that cuts it from its ARN.
        stack = Stack.of(self)

        def printed(value: str) -> str:
            resolved = stack.resolve(value)
            return resolved if isinstance(resolved, str) else f"<{resolved['Ref']}>"

        executions = (
            f"arn:{printed(stack.partition)}:states:{printed(stack.region)}:{printed(stack.account)}:execution:"
            f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{STATE_MACHINE_LOGICAL_ID}"}}]}}]}}'
        )
        distributed_map_policy = cast(
            iam.CfnPolicy, state_machine.node.find_child("DistributedMapPolicy").node.default_child
        )
        for resource, reason in (
            (f"{executions}:*", "states:DescribeExecution and states:StopExecution on its child executions"),
            (f"{executions}/*:*", "states:RedriveExecution on its map runs"),
        ):
            acknowledge(
                distributed_map_policy,
                f"AwsSolutions-IAM5[Resource::{resource}]",
                f"Added by CDK for the Distributed Map, as Step Functions requires: {reason}, whose names are "
                "made at run time. Only this state machine's executions match.",
            )
        if not tracing:
            for rule in ("AwsSolutions-SF2", "Serverless-StepFunctionStateMachineXray"):
                acknowledge(
                    state_machine,
                    rule,
                    "Tracing follows the destination's switch (function.tracing), off by default to spare X-Ray's "
                    "cost; every execution and map run is in the execution history and the state machine's logs.",
                )


class _ResultsWriter(sfn.ResultWriterV2):
    """ResultWriterV2 without the statement it adds on every object of the bucket: the state
    machine's role names the results prefix alone."""

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return []
