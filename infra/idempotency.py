"""The idempotency table: one item per exported eventId, for as long as the config's ttlSeconds."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The item layout of Powertools' DynamoDBPersistenceLayer (its defaults): the key and the TTL attribute.
PARTITION_KEY = "id"
TTL_ATTRIBUTE = "expiration"


class IdempotencyTable(Construct):
    """An on-demand DynamoDB table whose items expire by DynamoDB's TTL."""

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
            # Items only live for hours: nothing in them is worth keeping once the stack is gone.
            removal_policy=RemovalPolicy.DESTROY,
        )
