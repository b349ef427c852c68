"""The rejects queue: invalid messages are parked there unchanged, with the reason beside them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from .batching import batches

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# SendMessageBatch limits: 10 entries; 256 KiB in all keeps us within every queue's size limit.
MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024
_ATTRIBUTE_BYTES = 1024  # room kept for the message attributes of one entry


@dataclass(frozen=True, slots=True)
class Rejection:
    message_id: str
    body: str
    code: str
    reason: str


class RejectsQueue:
    """Takes an SQS client, or a function that makes one on first use: most batches hold no
    reject, and a client that is never needed costs the cold start its service model."""

    def __init__(self, client: SQSClient | Callable[[], SQSClient], queue_url: str) -> None:
        self._client_or_factory = client
        self._queue_url = queue_url

    @cached_property
    def _client(self) -> SQSClient:
        given = self._client_or_factory
        return given() if callable(given) else given

    def send(self, rejections: Sequence[Rejection]) -> set[str]:
        """Park rejections; returns the message ids that could not be parked (to be retried, not lost)."""
        unsent: set[str] = set()
        for batch in batches(rejections, _entry_size, MAX_ENTRIES_PER_CALL, MAX_BYTES_PER_CALL):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(n),
                    "MessageBody": rejection.body,
                    "MessageAttributes": {
                        "errorCode": {"DataType": "String", "StringValue": rejection.code},
                        "errorReason": {"DataType": "String", "StringValue": rejection.reason[:1000]},
                        "sourceMessageId": {"DataType": "String", "StringValue": rejection.message_id},
                    },
                }
                for n, rejection in enumerate(batch)
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError):
                unsent.update(rejection.message_id for rejection in batch)
                continue
            sent = {entry["Id"] for entry in response.get("Successful", [])}
            unsent.update(rejection.message_id for n, rejection in enumerate(batch) if str(n) not in sent)
        return unsent


def _entry_size(rejection: Rejection) -> int:
    return len(rejection.body.encode("utf-8")) + _ATTRIBUTE_BYTES
