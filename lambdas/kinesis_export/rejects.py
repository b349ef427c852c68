"""The rejects queue: invalid messages are parked there unchanged, with the reason beside them.

An invalid element of a message holding a JSON array is parked as a message of its own: its
own JSON text, with its index in the array beside the source message's id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic_core import to_json

from .batching import batches

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

# SendMessageBatch limits: 10 entries; 256 KiB in all keeps us within every queue's size limit.
MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024
_ATTRIBUTE_BYTES = 1024  # room kept for the message attributes of one entry


@dataclass(frozen=True, slots=True)
class Rejection:
    message_id: str
    body: str  # the message's body, or the element's own JSON text
    code: str
    reason: str
    index: int | None = None  # the element's index when the message holds a JSON array


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

    def send(self, rejections: Sequence[Rejection]) -> list[Rejection]:
        """Park rejections; returns those that could not be parked (their messages to be retried, not lost)."""
        unsent: list[Rejection] = []
        for batch in batches(rejections, _entry_size, MAX_ENTRIES_PER_CALL, MAX_BYTES_PER_CALL):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(n), "MessageBody": rejection.body, "MessageAttributes": _attributes(rejection)}
                for n, rejection in enumerate(batch)
            ]
            try:
                response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except (ClientError, BotoCoreError):
                unsent.extend(batch)
                continue
            sent = {entry["Id"] for entry in response.get("Successful", [])}
            unsent.extend(rejection for n, rejection in enumerate(batch) if str(n) not in sent)
        return unsent


def _attributes(rejection: Rejection) -> dict[str, MessageAttributeValueTypeDef]:
    attributes: dict[str, MessageAttributeValueTypeDef] = {
        "errorCode": {"DataType": "String", "StringValue": rejection.code},
        "errorReason": {"DataType": "String", "StringValue": rejection.reason[:1000]},
        "sourceMessageId": {"DataType": "String", "StringValue": rejection.message_id},
    }
    if rejection.index is not None:
        attributes["sourceIndex"] = {"DataType": "Number", "StringValue": str(rejection.index)}
    return attributes


# What SQS takes in a message body: #x9, #xA, #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF.
# In JSON text anything else can only stand inside a string, where a \u escape keeps its value.
_REFUSED_BY_SQS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def element_body(element: Any) -> str:
    """An array element's own JSON text, compact, as a body the rejects queue takes.

    The element was decoded from a body SQS took, but a character it held as an escape (U+FFFE,
    say) would come out of the encoder as itself, which SQS refuses: it is escaped again.
    """
    text = to_json(element).decode()
    return _REFUSED_BY_SQS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _entry_size(rejection: Rejection) -> int:
    return len(rejection.body.encode("utf-8")) + _ATTRIBUTE_BYTES
