"""The rejects queue: invalid messages are parked there unchanged, with the reason beside them.

An invalid element of a message holding a JSON array is parked as a message of its own: its
own JSON text, with its index in the array beside the source message's id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import to_json

from .deadline import Deadline
from .queues import Outgoing, Queue, Sending

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef


@dataclass(frozen=True, slots=True)
class Rejection:
    message_id: str
    body: str  # the message's body, or the element's own JSON text
    code: str
    reason: str
    index: int | None = None  # the element's index when the message holds a JSON array
    # The producer's message and the element's index in it, when the message continues one (pipeline.Origin).
    source: tuple[str, int] | None = None


class RejectsQueue:
    """Parks rejections in the rejects queue, while the writer writes the batch's valid events:
    a slow rejects queue holds back only the messages it parks."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def start(self, rejections: Sequence[Rejection]) -> Parking:
        """Start parking; `Parking.unparked` tells, within a deadline, which rejections could not be parked."""
        return Parking(rejections, self._queue.start([Outgoing(r.body, _attributes(r)) for r in rejections]))

    def send(self, rejections: Sequence[Rejection], deadline: Deadline) -> list[Rejection]:
        """Park rejections; those not parked by the deadline (their messages to be retried, not lost)."""
        return self.start(rejections).unparked(deadline)


@dataclass
class Parking:
    """Rejections on their way to the rejects queue."""

    rejections: Sequence[Rejection]
    sending: Sending

    def unparked(self, deadline: Deadline) -> list[Rejection]:
        """Those the queue did not take by the deadline: refused, failed, or with no answer in time."""
        return [self.rejections[n] for n in self.sending.unsent(deadline)]


def _attributes(rejection: Rejection) -> dict[str, MessageAttributeValueTypeDef]:
    message_id, index = rejection.source or (rejection.message_id, rejection.index)
    attributes: dict[str, MessageAttributeValueTypeDef] = {
        "errorCode": {"DataType": "String", "StringValue": rejection.code},
        "errorReason": {"DataType": "String", "StringValue": rejection.reason[:1000]},
        "sourceMessageId": {"DataType": "String", "StringValue": message_id},
    }
    if index is not None:
        attributes["sourceIndex"] = {"DataType": "Number", "StringValue": str(index)}
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
