"""Optional idempotency on eventId: an event already written (or being written) is not written again.

Powertools' DynamoDB persistence layer keeps one item per eventId. Before the writer, each event is
claimed (a conditional PutItem, status INPROGRESS); an eventId already claimed is a duplicate. After
the writer, a failed event's item is deleted (DeleteItem), so that a retry can write it, and a written
one's is marked COMPLETED (UpdateItem). Two requests per written event, one per duplicate.

Powertools' idempotency module is imported only when a ledger is made, so a destination without
idempotency does not pay for it at cold start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .deadline import Calls, Deadline, Late

# DynamoDB requests run this many at a time: one request per event, so a 500-message batch
# would otherwise wait for 500 round trips in a row.
DEFAULT_CONCURRENCY = 16


@dataclass
class Claims:
    """The outcome of claiming a batch's events, by index: claimed, duplicates, and failed with the reason."""

    claimed: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    unknown: set[int] = field(default_factory=set)  # of the failed: no answer by the deadline, may still land


class EventLedger:
    """Claims and settles eventIds in a Powertools persistence layer (DynamoDB in the function)."""

    def __init__(self, persistence: Any, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError

        self._persistence = persistence
        self._already_exists = IdempotencyItemAlreadyExistsError
        self._calls = Calls(concurrency, "idempotency")

    def claim(self, event_ids: Sequence[str], deadline: Deadline) -> Claims:
        """Mark each event in progress; an eventId in progress or completed elsewhere is a duplicate.

        The in-progress mark lapses when this invocation's time is up, so an event whose invocation
        died is not taken for a duplicate when SQS hands it out again.
        """
        remaining_ms = max(0, int(deadline.remaining() * 1000))

        def claim_one(event_id: str) -> str | None:
            """None when claimed, "" for a duplicate, else why the store failed."""
            try:
                self._persistence.save_inprogress(data={"eventId": event_id}, remaining_time_in_millis=remaining_ms)
            except self._already_exists:
                return ""
            except Exception as error:  # throttled, unreachable, or anything else: this event's failure alone
                return f"the idempotency table failed: {_code(error)}"
            return None

        claims = Claims()
        for index, outcome in enumerate(self._calls.run(claim_one, event_ids, deadline)):
            if isinstance(outcome, Late):
                claims.failed[index] = f"the idempotency table: {outcome.reason}"
                if outcome.started:
                    claims.unknown.add(index)
            elif outcome is None:
                claims.claimed.append(index)
            elif outcome == "":
                claims.duplicates.append(index)
            else:
                claims.failed[index] = outcome
        return claims

    def forget(self, event_ids: Sequence[str], deadline: Deadline) -> set[str]:
        """Delete the items of events not written, so that a retry writes them; those not deleted by the deadline.

        An event whose claim failed is forgotten too: the item may have been stored before the answer
        was lost. An item not deleted is still in progress until this invocation's time is up, and
        takes a retry read before then (a continuation) for a duplicate: its message must be
        redelivered whole instead, after the visibility timeout.
        """

        def forget_one(event_id: str) -> bool:
            return self._attempt(self._persistence.delete_record, {"eventId": event_id}, RuntimeError("not written"))

        outcomes = self._calls.run(forget_one, event_ids, deadline)
        return {event_id for event_id, outcome in zip(event_ids, outcomes, strict=True) if outcome is not True}

    def complete(self, event_ids: Sequence[str], deadline: Deadline) -> int:
        """Mark written events completed; returns how many requests failed or had no answer by the deadline.

        Those are not the messages' failures: the records are on the stream either way, and an item
        left in progress lapses with the invocation's time (a redelivery then writes it again).
        """

        def complete_one(event_id: str) -> bool:
            return self._attempt(self._persistence.save_success, {"eventId": event_id}, {})

        return sum(outcome is not True for outcome in self._calls.run(complete_one, event_ids, deadline))

    @staticmethod
    def _attempt(call: Any, data: dict[str, str], argument: Any) -> bool:
        try:
            call(data, argument)
        except Exception:
            return False
        return True


def dynamodb_ledger(
    table_name: str, ttl_seconds: int, key_prefix: str, region: str | None, concurrency: int = DEFAULT_CONCURRENCY
) -> EventLedger:
    """The function's ledger: Powertools' DynamoDB persistence layer on `table_name` (key `id`, TTL `expiration`).

    Items are keyed `<key_prefix>#<md5 of the eventId>`: the destination's name, not the function's,
    so a redeployed (renamed) function still recognises the events it wrote.
    """
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        region_name=region,
        config=Config(connect_timeout=2, read_timeout=3, max_pool_connections=concurrency),
    )
    persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
    persistence.configure(
        IdempotencyConfig(event_key_jmespath="eventId", expires_after_seconds=ttl_seconds), key_prefix=key_prefix
    )
    return EventLedger(persistence, concurrency)


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "error"))
    return type(error).__name__
