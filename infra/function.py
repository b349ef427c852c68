"""A function built from the destination's package: the exporter, the connection check and the backfill worker."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import (
    ARCHITECTURE,
    CONFIG_FILE_IN_PACKAGE,
    METRICS_NAMESPACE,
    POWERTOOLS_LAYER_ACCOUNT,
    POWERTOOLS_LAYER_NAME,
    POWERTOOLS_LAYER_VERSION,
    RUNTIME,
    role_path,
)
from infra.permissions import acknowledge_list_streams
from kinesis_export.config import DestinationConfig, ExecutionRole


def function_role(
    scope: Construct,
    construct_id: str,
    *,
    config: DestinationConfig,
    description: str,
    policy_name: str,
    statements: list[iam.PolicyStatement],
) -> iam.Role:
    """The role of one of the destination's functions: exactly these statements, in one inline policy.

    On the destination's role path, which the access stack's trust policy names (assumeRole mode).
    With the function's own credentials (executionRole) the statements hold ListStreams, whose
    Resource '*' findings are acknowledged here.
    """
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        path=role_path(config.name),
        description=description,
        inline_policies={policy_name: iam.PolicyDocument(statements=statements)},
    )
    if isinstance(config.credentials, ExecutionRole):
        acknowledge_list_streams(role, function_role=True)
    return role


def package_function(
    scope: Construct,
    construct_id: str,
    *,
    package: Path,
    handler: str,
    description: str,
    role: iam.IRole,
    log_group: logs.ILogGroup,
    memory_size: int,
    timeout: Duration,
    tracing: bool,
    environment: dict[str, str] | None = None,
) -> lambda_.Function:
    """One function of the package: the pinned runtime, architecture and Powertools layer, JSON logs,
    and the variables every handler reads (`environment` adds its own)."""
    stack = Stack.of(scope)
    powertools = lambda_.LayerVersion.from_layer_version_arn(
        scope,
        f"{construct_id}Powertools",
        # Built from the deploying stack's region, so an environment-agnostic template works too.
        stack.format_arn(
            service="lambda",
            account=POWERTOOLS_LAYER_ACCOUNT,
            resource="layer",
            resource_name=f"{POWERTOOLS_LAYER_NAME}:{POWERTOOLS_LAYER_VERSION}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        ),
    )
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        # Every function of the destination names one directory: CDK stages it once, as one asset.
        code=lambda_.Code.from_asset(str(package)),
        layers=[powertools],
        memory_size=memory_size,
        timeout=timeout,
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
        environment={
            "DESTINATION_CONFIG_FILE": CONFIG_FILE_IN_PACKAGE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            # The functions use no pydantic plugin, and looking for them in every installed distribution's
            # entry points costs the cold start (README, "Function settings").
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
            **(environment or {}),
        },
    )
