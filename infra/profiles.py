"""The profile state table (profileState): one item per profile, kept ttlDays after its last change."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.tables import expiring_table
from kinesis_export.profile_store import PARTITION_KEY, TTL_ATTRIBUTE


class ProfileTable(Construct):
    """An on-demand DynamoDB table, encrypted, recoverable to any second of the last 35 days, whose items expire
    by DynamoDB's TTL (the function moves `expiresAt` on at every write)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = expiring_table(self, "Table", partition_key=PARTITION_KEY, ttl_attribute=TTL_ATTRIBUTE)


def keep_profile_state(table: dynamodb.ITable) -> iam.PolicyStatement:
    """What the profile state step calls (profile_store.py): BatchGetItem to read, a conditional PutItem to write."""
    return iam.PolicyStatement(
        sid="KeepProfileState", actions=["dynamodb:BatchGetItem", "dynamodb:PutItem"], resources=[table.table_arn]
    )
