"""Sending messages to an SQS queue in SendMessageBatch calls, within the invocation's deadline.

The function sends to two queues besides reading its ingest queue: invalid input to the rejects
queue, and the unfinished rest of a long message back to the ingest queue (see pipeline.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .batching import batches
from .deadline import Calls, Deadline, Late, Started

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

# SendMessageBatch limits: 10 entries; 256 KiB in all keeps us within every queue's size limit.
MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024


@dataclass(frozen=True, slots=True)
class Outgoing:
    body: str
    attributes: dict[str, MessageAttributeValueTypeDef]


class Queue:
    """Takes an SQS client, or a function that makes one on first use: most batches send nothing,
    and a client that is never needed costs the cold start its service model."""

    def __init__(
        self, client: SQSClient | Callable[[], SQSClient], queue_url: str, *, concurrency: int = 4, name: str = "sqs"
    ) -> None:
        self._client_or_factory = client
        self.url = queue_url
        self._calls = Calls(concurrency, name)

    @cached_property
    def _client(self) -> SQSClient:
        given = self._client_or_factory
        return given() if callable(given) else given

    def start(self, messages: Sequence[Outgoing]) -> Sending:
        """Start sending, `concurrency` calls at a time; `Sending.unsent` tells what was not sent by a deadline."""
        client = self._client  # made on this thread: boto3's default session is not thread-safe
        calls = list(
            batches(range(len(messages)), lambda n: entry_size(messages[n]), MAX_ENTRIES_PER_CALL, MAX_BYTES_PER_CALL)
        )
        return Sending(calls, self._calls.start(lambda batch: self._send(client, messages, batch), calls))

    def send(self, messages: Sequence[Outgoing], deadline: Deadline) -> list[int]:
        """Send the messages; the positions of those not sent by the deadline."""
        if deadline.remaining() <= 0:
            return list(range(len(messages)))
        return self.start(messages).unsent(deadline)

    def _send(self, client: SQSClient, messages: Sequence[Outgoing], batch: list[int]) -> list[int]:
        """One SendMessageBatch call; the positions of the messages it did not take."""
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(n), "MessageBody": messages[n].body, "MessageAttributes": messages[n].attributes} for n in batch
        ]
        try:
            response = client.send_message_batch(QueueUrl=self.url, Entries=entries)
        except Exception:  # refused, throttled, unreachable: those messages are not sent, whatever the cause
            return batch
        sent = {entry["Id"] for entry in response.get("Successful", [])}
        return [n for n in batch if str(n) not in sent]


@dataclass
class Sending:
    """Messages on their way, one SendMessageBatch call per batch of positions."""

    batches: list[list[int]]
    calls: Started[list[int]]

    def unsent(self, deadline: Deadline) -> list[int]:
        """The positions of the messages not sent by the deadline: refused, failed, or with no answer in time."""
        unsent: list[int] = []
        for batch, answer in zip(self.batches, self.calls.wait(deadline), strict=True):
            unsent.extend(batch if isinstance(answer, Late) else answer)
        return sorted(unsent)


def entry_size(message: Outgoing) -> int:
    """What SQS counts against its size limits: the body, and each attribute's name, type and value."""
    attributes = sum(
        len(name) + len(value["DataType"]) + len(value.get("StringValue", "").encode("utf-8"))
        for name, value in message.attributes.items()
    )
    return len(message.body.encode("utf-8")) + attributes
