"""The idempotency table: one item per exported eventId, for as long as the config's ttlSeconds."""

from __future__ import annotations

from constructs import Construct

from infra.tables import expiring_table

# The item layout of Powertools' DynamoDBPersistenceLayer (its defaults): the key and the TTL attribute.
PARTITION_KEY = "id"
TTL_ATTRIBUTE = "expiration"


class IdempotencyTable(Construct):
    """An on-demand DynamoDB table whose items expire by DynamoDB's TTL."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = expiring_table(self, "Table", partition_key=PARTITION_KEY, ttl_attribute=TTL_ATTRIBUTE)
