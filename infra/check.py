"""The connection check at deployment: a custom resource that fails the deploy when the stream is out of reach."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import cast

from aws_cdk import CustomResource
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.constants import CHECK_HANDLER, CHECK_MEMORY_MB, CHECK_TIMEOUT, CONFIG_FILE_IN_PACKAGE
from infra.exporter import RETENTION_DAYS
from infra.function import function_role, package_function
from infra.nag import acknowledge
from infra.permissions import list_streams, reach_credentials, read_max_record_size, write_logs
from infra.stream import ExportStream
from kinesis_export.config import DestinationConfig, ExecutionRole

# The check function's logical ID, fixed so that `sam local invoke CheckFunction` can name it.
CHECK_FUNCTION_LOGICAL_ID = "CheckFunction"
CHECK_RESOURCE_TYPE = "Custom::KinesisExportConnectionCheck"


def config_sha256(package: Path) -> str:
    """The SHA-256 of the packaged config file: the check's property, so that a changed config re-runs it.

    The handler can hash the same file (it is in its own package) and tell a deployment of this
    config from a rollback to an older one, whose hash differs.
    """
    return hashlib.sha256((package / CONFIG_FILE_IN_PACKAGE).read_bytes()).hexdigest()


class ConnectionCheck(Construct):
    """Runs `kinesis_export.handlers.check` when the stack is created or updated (CDK's Provider framework).

    A failed check fails the deployment with the check's own lines as the reason: wrong
    credentials or a missing stream show up at deploy time, not as a dead-letter queue filling up.
    The function checks with the credentials the exporter uses, so its role holds what the
    exporter's holds to find the stream: ListStreams itself, or the way to the credentials that
    have it (the assumed role, the access key's secret). With its own role, and an existing stream
    the config says takes records over 1 MiB, it may also read that stream's summary
    (DescribeStreamSummary), which the exporter never needs. It never writes to the stream.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DestinationConfig,
        package: Path,
        stream: ExportStream,
    ) -> None:
        super().__init__(scope, construct_id)
        retention = RETENTION_DAYS[config.function.log_retention_days]
        credentials = config.credentials

        self.log_group = logs.LogGroup(self, "LogGroup", retention=retention)
        if isinstance(credentials, ExecutionRole):
            statements = [list_streams()]
            if config.stream.reads_max_record_size:
                statements.append(read_max_record_size(stream.stream_arn))
        else:
            # The assumed role, or the access key's user, reads the stream: its own statements say what.
            statements = [reach_credentials(credentials)]
        statements.append(write_logs(self.log_group))
        self.role = function_role(
            self,
            "Role",
            config=config,
            description=f"Kinesis export {config.name}: check at deployment that the stream can be reached",
            policy_name="Check",
            statements=statements,
        )

        self.function = package_function(
            self,
            "Function",
            package=package,
            handler=CHECK_HANDLER,
            description=f"Checks at deployment that destination {config.name} can reach its Kinesis stream",
            role=self.role,
            log_group=self.log_group,
            memory_size=CHECK_MEMORY_MB,
            timeout=CHECK_TIMEOUT,
            tracing=False,
        )
        cast(lambda_.CfnFunction, self.function.node.default_child).override_logical_id(CHECK_FUNCTION_LOGICAL_ID)
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "The Provider framework invokes the check synchronously and reports its failure to CloudFormation; "
            "a dead-letter queue only catches asynchronous invocations.",
        )
        acknowledge(
            self.function,
            "Serverless-LambdaTracing",
            "The check runs once per deployment; its result is the CloudFormation event and its JSON logs. "
            "A trace would show nothing more.",
        )

        # The framework's own function (Node.js, CDK's code) only relays between CloudFormation and
        # the check. Its role is ours, so that no managed policy comes with it; the framework adds
        # lambda:InvokeFunction and lambda:GetFunction on the check function to it.
        self.provider_log_group = logs.LogGroup(self, "ProviderLogGroup", retention=retention)
        provider_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Kinesis export {config.name}: relay the connection check to CloudFormation",
            inline_policies={"Logs": iam.PolicyDocument(statements=[write_logs(self.provider_log_group)])},
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            framework_on_event_role=provider_role,
            log_group=self.provider_log_group,
        )
        _acknowledge_provider(provider, provider_role)

        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type=CHECK_RESOURCE_TYPE,
            properties={"ConfigSha256": config_sha256(package)},
        )
        if stream.created:
            # The stream must exist before it is checked.
            self.resource.node.add_dependency(stream)


def _acknowledge_provider(provider: cr.Provider, role: iam.Role) -> None:
    """Accept the findings on CDK's Provider framework, which is CDK's code, not ours to change."""
    framework = provider.node.find_child("framework-onEvent")
    acknowledge(
        cast(iam.CfnPolicy, role.node.find_child("DefaultPolicy").node.default_child),
        "AwsSolutions-IAM5[Resource::<CheckFunction.Arn>:*]",
        "Added by CDK's Provider framework: lambda:InvokeFunction on the check function and its versions "
        "(':*'), the one function it relays to.",
    )
    acknowledge(
        framework,
        "Serverless-LambdaDLQ",
        "CloudFormation invokes the framework synchronously and waits for its answer; a dead-letter queue "
        "only catches asynchronous invocations.",
    )
    acknowledge(
        framework,
        "Serverless-LambdaTracing",
        "CDK's relay between CloudFormation and the check; the check's result is the CloudFormation event.",
    )
    acknowledge(
        framework,
        "Serverless-LambdaDefaultMemorySize",
        "CDK's relay runs once per deployment and only passes events on; the framework sets no memory size.",
    )
