"""The stack's DynamoDB tables are made one way: on demand, encrypted, recoverable, their items expiring by TTL."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct


def expiring_table(scope: Construct, construct_id: str, *, partition_key: str, ttl_attribute: str) -> dynamodb.Table:
    """An on-demand table keyed by one string, AWS-managed encryption, point-in-time recovery (any second of the
    last 35 days), whose items DynamoDB deletes once `ttl_attribute` (epoch seconds) is past.

    Deleted with the stack: both tables hold derived data (eventIds written lately; profile states a backfill
    seeds again), the profile table personal data too, and neither should outlive the pipeline.
    """
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        time_to_live_attribute=ttl_attribute,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        removal_policy=RemovalPolicy.DESTROY,
    )
