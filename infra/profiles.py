"""The profile state table (profileState): one item per profile, kept ttlDays after its last change."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from kinesis_export.profile_store import PARTITION_KEY, TTL_ATTRIBUTE


class ProfileTable(Construct):
    """An on-demand DynamoDB table, encrypted, recoverable to any second of the last 35 days, whose items expire
    by DynamoDB's TTL (the function moves `expiresAt` on at every write)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=TTL_ATTRIBUTE,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # Derived data (a backfill seeds it again) and personal data: it goes with the pipeline, rather than
            # outliving it. A new stack starts with no state.
            removal_policy=RemovalPolicy.DESTROY,
        )


def keep_profile_state(table: dynamodb.ITable) -> iam.PolicyStatement:
    """What the profile state step calls (profile_store.py): BatchGetItem to read, a conditional PutItem to write."""
    return iam.PolicyStatement(
        sid="KeepProfileState", actions=["dynamodb:BatchGetItem", "dynamodb:PutItem"], resources=[table.table_arn]
    )
