"""Fakes for unit tests: in-memory stand-ins for the boto3 clients, with scripted faults."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kinesis_export.records import Record

Entries = list[dict[str, Any]]
Fault = Callable[[int, Entries], Exception | dict[int, str] | None]


class FakeKinesis:
    """PutRecords that keeps what was written, in order; `fault(call_number, entries)` may raise or fail entries."""

    def __init__(self, fault: Fault | None = None) -> None:
        self.fault = fault
        self.calls: list[Entries] = []
        self.stream: list[tuple[str, bytes]] = []

    def put_records(self, stream_name: str, records: Sequence[Record]) -> dict[str, Any]:
        entries = [{"PartitionKey": record.partition_key, "Data": record.data} for record in records]
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
