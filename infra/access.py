"""The access stack: in the stream's account, the role an assumeRole destination's exporter assumes."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constants import role_path
from infra.permissions import acknowledge_list_streams, read_max_record_size, write_stream
from infra.stack import PROJECT
from kinesis_export.config import AssumeRole, DestinationConfig


class AccessStack(Stack):
    """`KinesisExportAccess-<name>`: the role named by `credentials.roleArn`, deployed before the export stack.

    The role may write to the one stream and nothing else; only the exporter's account may assume
    it, only with the external id, and only from the roles of this destination's export stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DestinationConfig,
        credentials: AssumeRole,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description=f"Access for Kinesis export {config.name}: the role its exporter assumes to write the stream",
        )
        # arn:<partition>:iam::<account>:role/<path/><name>
        partition = credentials.role_arn.split(":")[1]
        path, _, name = credentials.role_arn.split(":role/", 1)[1].rpartition("/")
        exporter_account = credentials.exporter_account_id or credentials.role_account_id
        stream_arn = self.format_arn(
            service="kinesis",
            account=credentials.role_account_id,
            region=config.stream.region or self.region,
            resource="stream",
            resource_name=config.stream.name,
        )

        # Trust: the exporter's account, and in it only the roles on this destination's path (the
        # exporter's and the connection check's), and only with the external id (the confused
        # deputy: another pipeline that knows the role's ARN cannot use it without the id).
        # The account is the principal, not the exporter role's ARN, because IAM refuses a trust
        # policy naming a role that does not exist yet, and this stack is deployed first; and a
        # role re-created under the same ARN would not be trusted again. aws:PrincipalArn, the
        # ARN of the role behind the calling session (its path included), narrows the account
        # down to that path instead. Whoever may create roles on that path in the exporter's
        # account could still assume this one: that is the exporter account's own IAM to guard.
        trusted = iam.AccountPrincipal(exporter_account).with_conditions(
            {
                "StringEquals": {"sts:ExternalId": credentials.external_id},
                "ArnLike": {
                    "aws:PrincipalArn": f"arn:{partition}:iam::{exporter_account}:role{role_path(config.name)}*"
                },
            }
        )
        statements = write_stream(stream_arn, config.stream.kms_key_arn)
        if config.stream.reads_max_record_size:
            # The connection check runs with this role too, and reads the stream's largest record then.
            statements.append(read_max_record_size(stream_arn))
        role = iam.Role(
            self,
            "Role",
            role_name=name,
            path=f"/{path}/" if path else None,
            assumed_by=trusted,
            description=f"Kinesis export {config.name}: write to stream {config.stream.name}, for the exporter",
            inline_policies={"WriteStream": iam.PolicyDocument(statements=statements)},
        )
        acknowledge_list_streams(role, function_role=False)

        Tags.of(self).add("project", PROJECT)
        Tags.of(self).add("destination", config.name)
        CfnOutput(
            self, "RoleArn", value=role.role_arn, description="The role the exporter assumes (credentials.roleArn)"
        )
