"""Fakes for unit tests: in-memory stand-ins for the boto3 clients, with scripted faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemAlreadyExistsError
from botocore.exceptions import ClientError

from kinesis_export.profiles import Conflict, Stored

Entries = list[dict[str, Any]]
Fault = Callable[[int, Entries], Exception | dict[int, str] | None]


class FakeKinesis:
    """PutRecords that keeps what was written, in order; `fault(call_number, entries)` may raise or fail entries."""

    def __init__(self, fault: Fault | None = None) -> None:
        self.fault = fault
        self.calls: list[Entries] = []
        self.stream: list[tuple[str, bytes]] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        entries = [{"PartitionKey": entry["PartitionKey"], "Data": entry["Data"]} for entry in Records]
        self.calls.append(entries)
        outcome = self.fault(len(self.calls), entries) if self.fault else None
        if isinstance(outcome, Exception):
            raise outcome
        failed = outcome or {}
        answer = []
        for position, entry in enumerate(entries):
            if position in failed:
                answer.append({"ErrorCode": failed[position], "ErrorMessage": "injected"})
            else:
                self.stream.append((entry["PartitionKey"], entry["Data"]))
                answer.append({"SequenceNumber": str(len(self.stream)), "ShardId": "shardId-0"})
        return {"FailedRecordCount": len(failed), "Records": answer}


def client_error(code: str, status: int = 400, operation: str = "PutRecords") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


class FakeSqs:
    """Keeps sent messages; ids in `refuse` are answered as failed entries, `down` raises."""

    def __init__(self, refuse: frozenset[str] = frozenset(), down: bool = False) -> None:
        self.refuse = refuse
        self.down = down
        self.sent: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.down:
            raise client_error("AWS.SimpleQueueService.NonExistentQueue", operation="SendMessageBatch")
        refused = [e for e in Entries if e["MessageAttributes"]["sourceMessageId"]["StringValue"] in self.refuse]
        self.sent.extend(e for e in Entries if e not in refused)
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e not in refused],
            "Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in refused],
        }


class FakePersistence:
    """Powertools' DynamoDB persistence layer semantics, in memory: an INPROGRESS item whose in-progress
    expiry has not passed, or a COMPLETED one, makes a claim fail as already existing."""

    def __init__(self, throttle: frozenset[str] = frozenset(), lose_answer: frozenset[str] = frozenset()) -> None:
        self.items: dict[str, tuple[str, float]] = {}
        self.throttle = set(throttle)  # claims refused (nothing stored)
        self.lose_answer = set(lose_answer)  # claims stored, then the answer lost (a timeout after the write)

    def save_inprogress(self, data: dict[str, Any], remaining_time_in_millis: int | None = None) -> None:
        event_id = data["eventId"]
        if event_id in self.throttle:
            self.throttle.discard(event_id)
            raise client_error("ProvisionedThroughputExceededException", operation="PutItem")
        self._store(event_id, time.time(), remaining_time_in_millis)
        if event_id in self.lose_answer:
            self.lose_answer.discard(event_id)
            raise client_error("RequestTimeout", status=500, operation="PutItem")

    def _store(self, event_id: str, started: float, remaining_ms: int | None) -> None:
        """As Powertools: the in-progress expiry counts from the call's start."""
        if event_id in self.items:
            status, expiry = self.items[event_id]
            if status == "COMPLETED" or expiry > time.time():
                raise IdempotencyItemAlreadyExistsError()
        self.items[event_id] = ("INPROGRESS", started + (remaining_ms or 0) / 1000)

    def save_success(self, data: dict[str, Any], result: Any) -> None:
        self.items[data["eventId"]] = ("COMPLETED", float("inf"))

    def delete_record(self, data: dict[str, Any], exception: Exception) -> None:
        self.items.pop(data["eventId"], None)


class FakeIngest:
    """SendMessageBatch on the ingest queue: keeps every body sent, and the origin attributes beside it."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.origins: list[tuple[str, str]] = []  # each continuation's attributes: message id, indexes
        self.attributes: list[dict[str, Any]] = []  # each continuation's attributes, whole

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.bodies.extend(entry["MessageBody"] for entry in Entries)
        self.attributes.extend(entry["MessageAttributes"] for entry in Entries)
        self.origins.extend(
            (
                entry["MessageAttributes"]["continuesMessageId"]["StringValue"],
                entry["MessageAttributes"]["continuesIndexes"]["StringValue"],
            )
            for entry in Entries
        )
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


class FakeProfileStore:
    """The profile state table in memory, with DynamoDB's conditional write: `items` holds each profile's Stored.

    `fail_keys` refuses reads of those profiles (ProvisionedThroughputExceededException), `refuse_writes` their
    writes; `before_put(key)` runs before each write's condition is checked (a test's concurrent writer).
    """

    def __init__(
        self,
        fail_keys: frozenset[str] = frozenset(),
        refuse_writes: frozenset[str] = frozenset(),
        before_put: Callable[[str], None] | None = None,
    ) -> None:
        self.items: dict[str, Stored] = {}
        self.fail_keys = fail_keys
        self.refuse_writes = refuse_writes
        self.before_put = before_put
        self.reads: list[list[str]] = []
        self.puts: list[str] = []

    def read(self, keys: Any, deadline: Any) -> dict[str, Any]:
        self.reads.append(list(keys))
        refused = "BatchGetItem failed: ProvisionedThroughputExceededException"
        return {key: refused if key in self.fail_keys else self.get(key) for key in keys}

    def get(self, key: str) -> Any:
        return self.items.get(key)

    def put(self, key: str, state: bytes, version: int, expected: int | None, expires_at: int) -> None:
        if self.before_put is not None:
            self.before_put(key)
        if key in self.refuse_writes:
            raise client_error("ProvisionedThroughputExceededException", operation="PutItem")
        held = self.items.get(key)
        if (held.version if held else None) != expected:
            raise Conflict()
        self.puts.append(key)
        self.items[key] = Stored(version, state, expires_at)
