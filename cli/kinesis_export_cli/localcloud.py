"""A local AWS cloud that `cdk deploy` can deploy the export stacks onto: moto's server, with six extensions.

moto's CloudFormation creates most of what an export stack holds, and the aws-cdk CLI talks to it as
to AWS (AWS_ENDPOINT_URL). What it lacks, this module adds, each kept small and each pinned by a test
(tests/integration/test_localcloud.py) that fails when a moto upgrade breaks it:

1. `AWS::CloudWatch::Alarm` and `AWS::SNS::Subscription`: moto has no CloudFormation model for them and
   skips the resources: the dashboard's and the topic policy's references to an alarm would fail the deploy,
   and a subscription would be missing. Alarms are created here through moto's CloudWatch, subscriptions
   through moto's SNS (listed with their topic; nothing is delivered).
2. `AWS::SQS::QueuePolicy`, `AWS::S3::BucketPolicy` (the backfill bucket's, the bootstrap bucket's) and
   `AWS::SNS::TopicPolicy` (the alarm topic's): likewise skipped; here they set the queue's, the bucket's or
   the topic's policy, which the local cloud records but does not enforce (moto would judge a bucket policy
   without its conditions: a TLS-only one would refuse every request over the local cloud's plain HTTP).
3. Custom resources run in line: moto would invoke the ServiceToken function in Docker and wait for
   its answer. Here the Provider framework's part is played: its user function (the connection
   check) runs from its deployed zip, with its deployed environment, in a fresh interpreter
   (function_host.py), and its failure fails the deploy with its message, as CloudFormation shows it.
4. Change sets, as the CLI uses them: found by stack and name (moto looks by name alone, and the CLI
   gives every stack's the same one), removed once executed or when the CLI deletes them (even if
   absent, as AWS allows), and a deleted one described as not found (ChangeSetNotFound, which the CLI
   waits for before it updates a stack); resources added in DependsOn order; the outputs rebuilt once the resources
   exist (moto leaves them empty); an update keeps an SSM-typed parameter's previous value (moto
   would look its value up as a name); and a failed resource fails the stack, with its reason,
   instead of the API call. A custom resource's update runs its function with RequestType Update.
5. SQS event source mappings are recorded but not run: moto would invoke the function in Docker on
   every SendMessage. `kinesis_export_cli.localdeploy` polls the queue as the mapping says instead.
   A function's update leaves out the layers the local cloud does not hold, as its creation does.
   And CloudTrail's LookupEvents, which the CLI calls after a failed deploy, answers with no events.
6. A FIFO queue without a QueueName is named as CloudFormation names it, ending in `.fifo`: moto gives it
   the name of any resource, which its SQS then refuses for a FIFO queue (`ingest.fifo`).

IAM is not enforced, streams get one shard and no encryption (but their MaxRecordSizeInKiB, through
moto_server's own extension, local.take_large_records), functions run on this machine's Python
and architecture, and layers are not fetched (the function's dependency set is this environment's).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinesis_export_cli.local import local_client, moto_server

# The account moto answers for when credentials name none of its own (moto's default).
DEFAULT_ACCOUNT = "123456789012"
FUNCTION_HOST = Path(__file__).with_name("function_host.py")
# A fresh interpreter's start-up (imports included), allowed on top of the function's timeout.
START_UP_SECONDS = 10
# An invocation's logs, kept when the function fails (the tail is printed with the error).
LOG_TAIL_LINES = 20


class FunctionError(RuntimeError):
    """The deployed function raised: str() is its error message, as Lambda would report it."""

    def __init__(self, error_type: str, message: str, logs: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.logs = logs


@dataclass(frozen=True)
class DeployedFunction:
    """What Lambda runs: the deployed code, handler, environment and limits of one function."""

    name: str
    arn: str
    region: str
    role: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    code: bytes


def deployed_function(name_or_arn: str, account: str, region: str) -> DeployedFunction:
    """The function as the local cloud deployed it (moto's Lambda holds the zip CloudFormation gave it)."""
    from moto.awslambda.utils import get_backend

    function = get_backend(account, region).get_function(name_or_arn)
    return DeployedFunction(
        name=function.function_name,
        arn=function.function_arn,
        region=region,
        role=function.role,
        handler=str(function.handler),
        environment=dict(function.environment_vars),
        timeout_seconds=int(function.timeout),
        memory_mb=int(function.memory_size),
        code=function.code_bytes,
    )


def assumed_credentials(endpoint: str, role_arn: str, session_name: str) -> dict[str, str]:
    """Credentials of `role_arn`, assumed through the local STS, as environment variables.

    moto answers each request for the account of the credentials it was signed with: a role's credentials
    reach its account's queues and streams. Lambda gives a function its execution role's this way.
    """
    sts = local_client("sts", endpoint, "us-east-1")
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
        "AWS_SESSION_TOKEN": assumed["SessionToken"],
    }


def invoke(function: DeployedFunction, event: Any, endpoint: str) -> Any:
    """Run one invocation of `function` in a fresh interpreter; its answer, or FunctionError.

    The interpreter's path holds the deployed code (extracted, as Lambda extracts it) and the
    function's dependency set, this environment's site-packages, standing in for the runtime's boto3
    and the Powertools layer. Its environment is the deployed one, plus what Lambda adds (region,
    function name, the role's credentials) and the local cloud as every service's endpoint.
    """
    environment = {
        **function.environment,
        **assumed_credentials(endpoint, function.role, "local-function"),
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        # The deployed environment names AWS's endpoints, if any: the local cloud stands in for them all.
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    environment = {name: value for name, value in environment.items() if not name.startswith("AWS_ENDPOINT_URL_")}
    dependencies = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    with tempfile.TemporaryDirectory(prefix="kinesis-export-function-") as scratch:
        code_dir = Path(scratch) / "task"
        with zipfile.ZipFile(io.BytesIO(function.code)) as archive:
            archive.extractall(code_dir)
        answer_file = Path(scratch) / "answer.json"
        invocation = {
            "event": event,
            "timeoutSeconds": function.timeout_seconds,
            "functionName": function.name,
            "memoryMb": function.memory_mb,
        }
        try:
            finished = subprocess.run(
                [sys.executable, "-I", "-S", FUNCTION_HOST, code_dir, function.handler, answer_file, *dependencies],
                input=json.dumps(invocation),
                capture_output=True,
                text=True,
                env=environment,
                # Lambda stops a function at its timeout; the interpreter's start-up is on top of it here.
                timeout=function.timeout_seconds + START_UP_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as timeout:
            logs = _text(timeout.stdout) + _text(timeout.stderr)
            raise FunctionError(
                "Sandbox.Timedout", f"Task timed out after {function.timeout_seconds} seconds", logs
            ) from None
        logs = finished.stdout + finished.stderr
        if not answer_file.exists():
            raise FunctionError("Runtime.ExitError", f"the function's process exited with {finished.returncode}", logs)
        answer = json.loads(answer_file.read_text(encoding="utf-8"))
    if "error" in answer:
        raise FunctionError(answer["error"]["type"], answer["error"]["message"], logs)
    return answer["result"]


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


# --- the extensions ------------------------------------------------------------------------------------

_EXTENDED = threading.Lock()
_extended = False
# The running local cloud's endpoint, where a custom resource's function sends its calls.
_endpoint: list[str] = []


def extend() -> None:
    """Add the six extensions to moto, once per process (module docstring)."""
    global _extended
    with _EXTENDED:
        if _extended:
            return
        _add_models()
        _run_custom_resources_in_line()
        _execute_change_sets_in_order()
        _record_event_source_mappings_only()
        _leave_out_foreign_layers()
        _answer_cloudtrail_lookups()
        _name_fifo_queues_as_cloudformation_does()
        _extended = True


def _add_models() -> None:
    from moto.cloudformation import parsing
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket, s3_backends
    from moto.sns.models import sns_backends
    from moto.sqs.models import sqs_backends
    from moto.utilities.utils import get_partition

    class AddedModel:
        """What the added models share: no name property, no attribute, created at once. A mixin: moto finds
        its models among CloudFormationModel's direct subclasses."""

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        def is_created(self) -> bool:
            return True

    class MetricAlarm(AddedModel, CloudFormationModel):
        """AWS::CloudWatch::Alarm on one metric (the form the export stacks use), through moto's CloudWatch."""

        def __init__(self, alarm: Any) -> None:
            self.alarm = alarm

        @staticmethod
        def cloudformation_name_type() -> str:
            return "AlarmName"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::CloudWatch::Alarm"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        @property
        def physical_resource_id(self) -> str:
            return str(self.alarm.name)

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            return self.alarm.alarm_arn

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> MetricAlarm:
            properties = cloudformation_json["Properties"]
            alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
                name=properties.get("AlarmName", resource_name),
                namespace=properties["Namespace"],
                metric_name=properties["MetricName"],
                comparison_operator=properties["ComparisonOperator"],
                evaluation_periods=int(properties["EvaluationPeriods"]),
                period=int(properties["Period"]),
                threshold=float(properties["Threshold"]),
                statistic=properties.get("Statistic"),
                description=properties.get("AlarmDescription", ""),
                dimensions=properties.get("Dimensions", []),
                alarm_actions=properties.get("AlarmActions", []),
                ok_actions=properties.get("OKActions", []),
                insufficient_data_actions=properties.get("InsufficientDataActions", []),
                datapoints_to_alarm=properties.get("DatapointsToAlarm"),
                extended_statistic=properties.get("ExtendedStatistic"),
                treat_missing_data=properties.get("TreatMissingData"),
                tags=properties.get("Tags", []),
            )
            return cls(alarm)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
        ) -> None:
            cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])

    class QueuePolicy(AddedModel, CloudFormationModel):
        """AWS::SQS::QueuePolicy: the policy document set as each named queue's Policy attribute."""

        def __init__(self, queue_names: list[str]) -> None:
            self.queue_names = queue_names

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SQS::QueuePolicy"

        @property
        def physical_resource_id(self) -> str:
            return ",".join(self.queue_names)

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> QueuePolicy:
            properties = cloudformation_json["Properties"]
            names = [_queue_name(url) for url in properties["Queues"]]
            backend = sqs_backends[account_id][region_name]
            for name in names:
                backend.set_queue_attributes(name, {"Policy": json.dumps(properties["PolicyDocument"])})
            return cls(names)

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
        ) -> None:
            backend = sqs_backends[account_id][region_name]
            for name in map(_queue_name, cloudformation_json["Properties"]["Queues"]):
                if name in backend.queues:
                    backend.set_queue_attributes(name, {"Policy": ""})

    class BucketPolicy(AddedModel, CloudFormationModel):
        """AWS::S3::BucketPolicy: the policy document set on the named bucket."""

        def __init__(self, bucket: str) -> None:
            self.bucket = bucket

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @property
        def physical_resource_id(self) -> str:
            return self.bucket

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> BucketPolicy:
            properties = cloudformation_json["Properties"]
            document = json.dumps(properties["PolicyDocument"]).encode()
            s3_backends[account_id][get_partition(region_name)].put_bucket_policy(properties["Bucket"], document)
            return cls(properties["Bucket"])

        @classmethod
        def delete_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
        ) -> None:
            bucket = cloudformation_json["Properties"]["Bucket"]
            s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(bucket)

    class TopicPolicy(AddedModel, CloudFormationModel):
        """AWS::SNS::TopicPolicy: the policy document set as each named topic's Policy attribute, as it replaces
        SNS's default policy; its deletion (or a topic it no longer names) gives the topic the default again."""

        def __init__(self, topic_arns: list[str], account_id: str, region_name: str) -> None:
            self.topic_arns = topic_arns
            self.backend = sns_backends[account_id][region_name]

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::TopicPolicy"

        @property
        def physical_resource_id(self) -> str:
            return ",".join(self.topic_arns)

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> TopicPolicy:
            properties = cloudformation_json["Properties"]
            policy = cls(properties["Topics"], account_id, region_name)
            for arn in policy.topic_arns:
                policy.backend.set_topic_attribute(arn, "policy", json.dumps(properties["PolicyDocument"]))
            return policy

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: TopicPolicy,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> TopicPolicy:
            # An alarm added to the stack is a new source in the policy's condition.
            policy = cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
            original_resource._restore_default(set(original_resource.topic_arns) - set(policy.topic_arns))
            return policy

        def delete(self, account_id: str, region_name: str) -> None:
            self._restore_default(set(self.topic_arns))

        def _restore_default(self, topic_arns: set[str]) -> None:
            for arn in topic_arns:
                topic = self.backend.topics.get(arn)
                if topic is not None:
                    topic._policy_json = topic._create_default_topic_policy(
                        self.backend.region_name, topic.account_id, topic.name
                    )

    class TopicSubscription(AddedModel, CloudFormationModel):
        """AWS::SNS::Subscription: a subscription in moto's SNS, listed with its topic (nothing is delivered:
        the local cloud's alarms never fire, and an e-mail needs no confirmation)."""

        def __init__(self, subscription_arn: str, account_id: str, region_name: str) -> None:
            self.subscription_arn = subscription_arn
            self.backend = sns_backends[account_id][region_name]

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::Subscription"

        @property
        def physical_resource_id(self) -> str:
            return self.subscription_arn

        @classmethod
        def create_from_cloudformation_json(
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **_: Any
        ) -> TopicSubscription:
            properties = cloudformation_json["Properties"]
            subscription = sns_backends[account_id][region_name].subscribe(
                properties["TopicArn"], properties["Endpoint"], properties["Protocol"]
            )
            return cls(subscription.arn, account_id, region_name)

        def delete(self, account_id: str, region_name: str) -> None:
            self.backend.unsubscribe(self.subscription_arn)

    # Policies are recorded, not enforced, as IAM is not: moto would judge a bucket policy without its
    # conditions, so the TLS-only policies of the export and bootstrap stacks would refuse every request
    # on the local cloud's plain HTTP.
    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL  # type: ignore[method-assign]
    # moto finds its models among CloudFormationModel's subclasses, once: forget what it found.
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def _queue_name(url: str) -> str:
    """A queue's name, from its URL (a template's Ref to a queue)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


class ResourceFailed(Exception):
    """A resource could not be created or updated: the reason CloudFormation shows on its failed event."""

    def __init__(self, logical_id: str, resource_type: str, reason: str, status: str = "CREATE_FAILED") -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason
        self.status = status


def _run_custom_resources_in_line() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.custom_model import CustomModel
    from moto.moto_api._internal import mock_random

    class InlineCustomResource(CustomModel):
        """A custom resource answered at once: the Provider framework's user function is run in line."""

        stack_id: str
        resource_type: str
        properties: dict[str, Any]

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> InlineCustomResource:
            properties = cloudformation_json["Properties"]
            event = {
                "RequestType": "Create",
                "StackId": kwargs["StackId"],
                "LogicalResourceId": kwargs["LogicalId"],
                "ResourceType": kwargs["ResourceType"],
                "ResourceProperties": properties,
            }
            answer = _run(event, account_id, region_name)
            resource = cls(region_name, "", kwargs["LogicalId"], answer.get("PhysicalResourceId", resource_name))
            resource.stack_id, resource.resource_type, resource.properties = (
                kwargs["StackId"],
                kwargs["ResourceType"],
                properties,
            )
            resource.set_data(answer.get("Data", {}))
            return resource

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: InlineCustomResource,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> InlineCustomResource:
            properties = cloudformation_json["Properties"]
            event = {
                "RequestType": "Update",
                "StackId": original_resource.stack_id,
                "LogicalResourceId": original_resource.logical_id,
                "PhysicalResourceId": original_resource.physical_resource_id,
                "ResourceType": original_resource.resource_type,
                "ResourceProperties": properties,
                "OldResourceProperties": original_resource.properties,
            }
            try:
                answer = _run(event, account_id, region_name)
            except ResourceFailed as failure:
                # moto retries a failed update five times: the failure is kept for the stack instead, once.
                _failed_updates[original_resource.stack_id] = failure
                return original_resource
            original_resource.properties = properties
            original_resource.set_data(answer.get("Data", {}))
            return original_resource

    def _run(event: dict[str, Any], account_id: str, region_name: str) -> dict[str, Any]:
        """The Provider framework's part: the user function's answer to `event`, or ResourceFailed."""
        properties = event["ResourceProperties"]
        status = "UPDATE_FAILED" if event["RequestType"] == "Update" else "CREATE_FAILED"
        # CDK's Provider framework: the ServiceToken is its own (Node.js) function, which names the
        # function it relays to in USER_ON_EVENT_FUNCTION_ARN.
        framework = deployed_function(properties["ServiceToken"], account_id, region_name)
        user_function_arn = framework.environment.get("USER_ON_EVENT_FUNCTION_ARN")
        if user_function_arn is None:
            raise ResourceFailed(
                event["LogicalResourceId"],
                event["ResourceType"],
                "the local cloud runs only CDK Provider framework resources",
                status,
            )
        function = deployed_function(user_function_arn, account_id, region_name)
        event = {**event, "ServiceToken": properties["ServiceToken"], "RequestId": str(mock_random.uuid4())}
        try:
            answer: dict[str, Any] = invoke(function, event, _endpoint[-1])
        except FunctionError as error:
            raise ResourceFailed(
                event["LogicalResourceId"],
                event["ResourceType"],
                f"Received response status [FAILED] from custom resource. Message returned: {error}",
                status,
            ) from None
        return answer

    parsing.CustomModel = InlineCustomResource  # type: ignore[attr-defined]


# A custom resource's failed update, per stack, for the change set's execution to report.
_failed_updates: dict[str, ResourceFailed] = {}


def _execute_change_sets_in_order() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import CloudFormationError, ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.ssm.models import ssm_backends

    build_resource_diff = parsing.ResourceMap.build_resource_diff

    def in_dependency_order(self: Any, other_template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        diff = build_resource_diff(self, other_template, parameters)
        diff["Add"] = _dependency_order(other_template["Resources"], diff["Add"])
        return diff

    parsing.ResourceMap.build_resource_diff = in_dependency_order  # type: ignore[method-assign]

    parse_ssm_parameter = parsing.ResourceMap.parse_ssm_parameter

    def ssm_parameter(self: Any, value: str, value_type: str) -> Any:
        # An update keeps a parameter's previous value (the CLI's UsePreviousValue for CDK's BootstrapVersion),
        # and moto hands on the value it resolved before, not the SSM parameter's name: it is the value.
        if ssm_backends[self._account_id][self._region_name].get_parameter(value) is None:
            return value
        return parse_ssm_parameter(self, value, value_type)

    parsing.ResourceMap.parse_ssm_parameter = ssm_parameter  # type: ignore[method-assign]

    execute_change_set = CloudFormationBackend.execute_change_set

    def execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        # moto finds a change set by its name alone, across stacks; the CLI names every one the same.
        change_set = next(
            (
                c
                for c in self.change_sets.values()
                if change_set_name == c.change_set_id
                or (change_set_name == c.change_set_name and stack_name in (None, c.stack_name, c.stack_id))
            ),
            None,
        )
        if change_set is None:
            return execute_change_set(self, change_set_name, stack_name)  # moto's own error for an unknown one
        stack = self.stacks[change_set.stack_id]
        try:
            execute_change_set(self, change_set.change_set_id, stack_name)
            if stack.stack_id in _failed_updates:
                raise _failed_updates.pop(stack.stack_id)
        except Exception as error:
            failure = (
                error
                if isinstance(error, ResourceFailed)
                else ResourceFailed(stack.name, "AWS::CloudFormation::Stack", f"{type(error).__name__}: {error}")
            )
            _fail(stack, change_set, failure)
        else:
            # The outputs were read from the stack's first (empty) template, before any resource existed.
            stack._parse_template()
            stack.output_map = stack._create_output_map()
        # As CloudFormation does once a change set is executed: the stack's change sets no longer apply.
        for arn in [arn for arn, c in self.change_sets.items() if c.stack_id == stack.stack_id]:
            del self.change_sets[arn]

    CloudFormationBackend.execute_change_set = execute  # type: ignore[method-assign]

    def delete(self: Any, change_set_name: str) -> None:
        # The CLI deletes its change set's name before each deploy, whether it exists or not, as AWS allows.
        for arn in [arn for arn, c in self.change_sets.items() if change_set_name in (arn, c.change_set_name)]:
            del self.change_sets[arn]

    CloudFormationBackend.delete_change_set = delete  # type: ignore[method-assign]

    class ChangeSetNotFound(CloudFormationError):
        code = "ChangeSetNotFound"

    describe_change_set = CloudFormationBackend.describe_change_set

    def describe(self: Any, change_set_name: str) -> Any:
        # Before it creates a stack's next change set, the CLI deletes the last one's name and waits until
        # DescribeChangeSet answers ChangeSetNotFound, as AWS does; moto's "stack does not exist" fails the update.
        try:
            return describe_change_set(self, change_set_name)
        except ValidationError:
            raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist") from None

    CloudFormationBackend.describe_change_set = describe  # type: ignore[method-assign]


def _fail(stack: Any, change_set: Any, failure: ResourceFailed) -> None:
    """Mark the stack failed, with the resource's reason, as CloudFormation reports a failed creation or update."""
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=failure.resource_type,
            resource_status=failure.status,
            resource_status_reason=failure.reason,
            resource_properties=None,
        )
    )
    # moto does not roll back: what was created stays, and the stack says it failed. Its resource map would
    # create the rest on the next read of the stack's resources (and run the failed one again): it forgets them.
    resource_map = stack.resource_map
    resource_map._resource_json_map = {
        name: resource
        for name, resource in resource_map._resource_json_map.items()
        if name in resource_map._parsed_resources
    }
    failed = "ROLLBACK_COMPLETE" if change_set.change_set_type == "CREATE" else "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event(failed, resource_status_reason=failure.reason)
    stack.status = failed
    change_set.execution_status = "EXECUTE_FAILED"


def _dependency_order(resources: Mapping[str, Any], names: list[str]) -> list[str]:
    """`names` reordered so that each comes after the resources its DependsOn names (CloudFormation's order)."""
    ordered: list[str] = []
    wanted = set(names)

    def visit(name: str) -> None:
        if name in ordered or name not in wanted:
            return
        wanted.discard(name)
        depends_on = resources[name].get("DependsOn", [])
        for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
            visit(dependency)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def _leave_out_foreign_layers() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.awslambda.utils import get_backend

    def known_layers(self: Any, arns: list[str]) -> list[dict[str, Any]]:
        # A layer of another account (AWS's public Powertools layer) is not in the local cloud: moto leaves it
        # out of a function it creates, but refuses the update of one that names it.
        backend = get_backend(self.account_id, self.region)
        versions = [backend.layers_versions_by_arn(arn) for arn in arns]
        return [{"Arn": version.arn, "CodeSize": version.code_size} for version in versions if version]

    LambdaFunction._get_layers_data = known_layers  # type: ignore[method-assign,assignment]


def _record_event_source_mappings_only() -> None:
    from moto.sqs.models import Queue

    # moto runs a queue's mappings on every SendMessage, in Docker: a queue that never holds one leaves
    # the messages to the local deploy's poller, which follows the mapping's settings.
    Queue.lambda_event_source_mappings = property(lambda self: {}, lambda self, value: None)  # type: ignore[assignment]


def _answer_cloudtrail_lookups() -> None:
    from moto.cloudtrail.responses import CloudTrailResponse

    # After a failed deploy the CLI looks up the failed resources' API calls in CloudTrail; moto has no
    # LookupEvents, and its error makes the CLI retry for some twenty seconds before it reports the failure.
    CloudTrailResponse.lookup_events = lambda self: json.dumps({"Events": []})  # type: ignore[attr-defined]


def _name_fifo_queues_as_cloudformation_does() -> None:
    from moto.sqs.models import Queue

    create = Queue.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_named(
        cls: type[Queue], resource_name: str, template: Any, account_id: str, region_name: str, /, **kwargs: Any
    ) -> Queue:
        # <stack>-<logical id>-<random>.fifo within SQS's 80 characters: cut in front of the random part, which
        # keeps two queues of one stack apart.
        name = str(resource_name)
        fifo = str(template.get("Properties", {}).get("FifoQueue")).lower() == "true"
        if fifo and not name.endswith(".fifo"):
            tail = name[-13:]
            name = name[: max(0, 80 - len(".fifo") - len(tail))] + tail + ".fifo"
        return create(cls, name, template, account_id, region_name, **kwargs)  # type: ignore[no-any-return]

    Queue.create_from_cloudformation_json = classmethod(create_named)  # type: ignore[method-assign,assignment]


@contextmanager
def local_cloud() -> Iterator[str]:
    """moto's server, extended, on a free loopback port; yields its endpoint URL and stops it after."""
    with moto_server() as endpoint:
        from moto.moto_api._internal.models import moto_api_backend

        extend()
        # moto's state is the process's: the cloud starts empty, whatever an earlier server here left, and
        # leaves nothing behind.
        moto_api_backend.reset()
        _endpoint.append(endpoint)
        try:
            yield endpoint
        finally:
            _endpoint.pop()
            moto_api_backend.reset()
