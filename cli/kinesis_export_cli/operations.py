"""Operators' way back: read the rejects queue, and move dead letters back to the ingest queue."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

STACK_PREFIX = "KinesisExport-"


class StackNotDeployed(LookupError):
    """The destination's stack is not in this account and region."""


def stack_queues(cloudformation: Any, destination: str) -> dict[str, str]:
    """The queue URLs among the outputs of the destination's stack (IngestQueueUrl, ...)."""
    name = STACK_PREFIX + destination
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        # CloudFormation's answer for a missing stack: ValidationError "Stack with id ... does not exist".
        details = error.response.get("Error", {})
        if details.get("Code") != "ValidationError" or "does not exist" not in details.get("Message", ""):
            raise
        raise StackNotDeployed(
            f"stack {name} is not deployed in {cloudformation.meta.region_name}: deploy it (make deploy), "
            "or give the queue URL instead of the config"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"].endswith("QueueUrl")}


@dataclass(frozen=True)
class Reject:
    message_id: str
    source_message_id: str
    code: str
    reason: str


def read_rejects(sqs: Any, queue_url: str, *, delete: bool = False, limit: int = 1000) -> list[Reject]:
    """Up to `limit` rejected messages with their codes and reasons; deleted only when asked."""
    messages = _receive(sqs, queue_url, limit, MessageAttributeNames=["All"])
    _settle(sqs, queue_url, messages, delete=delete)
    rejects = []
    for message in messages:
        attributes = message.get("MessageAttributes", {})
        code, reason, source = (
            str(attributes.get(name, {}).get("StringValue", "?"))
            for name in ("errorCode", "errorReason", "sourceMessageId")
        )
        rejects.append(Reject(message["MessageId"], source, code, reason))
    return rejects


def _receive(sqs: Any, queue_url: str, limit: int, **options: Any) -> list[dict[str, Any]]:
    """Up to `limit` messages, each hidden while the pass lasts so that each comes once."""
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        page = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, limit - len(messages)), VisibilityTimeout=60, **options
        ).get("Messages", [])
        if not page:
            break
        messages += page
    return messages


def _settle(sqs: Any, queue_url: str, messages: list[dict[str, Any]], *, delete: bool) -> None:
    """Delete the messages read, or make them visible again at once."""
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        if delete:
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        else:
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for n, m in enumerate(chunk)
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


@dataclass(frozen=True)
class Redrive:
    waiting: int
    moved: int
    receive_counts: Counter[int]
    method: str


def redrive(sqs: Any, dead_letter_url: str, ingest_url: str, *, dry_run: bool = False) -> Redrive:
    """Move the dead letters back to the ingest queue: SQS's own message move task where available."""
    waiting = int(
        sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    if dry_run:
        # A look at (up to) the first hundred: how often they were tried before they gave up.
        messages = _receive(sqs, dead_letter_url, 100, AttributeNames=["All"])
        _settle(sqs, dead_letter_url, messages, delete=False)
        counts = Counter(int(m["Attributes"].get("ApproximateReceiveCount", 0)) for m in messages)
        return Redrive(waiting, 0, counts, "dry run")

    def arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    try:
        sqs.start_message_move_task(SourceArn=arn(dead_letter_url), DestinationArn=arn(ingest_url))
        return Redrive(waiting, waiting, Counter(), "SQS message move task (runs on in the background)")
    except ClientError as error:
        # Only where the API itself is missing (a local emulator): any other error is the caller's to see.
        if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
            raise
    moved = 0
    while True:
        page = sqs.receive_message(
            QueueUrl=dead_letter_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["MessageGroupId"],
        )
        messages = page.get("Messages", [])
        if not messages:
            return Redrive(waiting, moved, Counter(), "receive, send, delete")
        # From a FIFO queue to a FIFO queue, each message keeps its group (a FIFO queue takes none without one).
        entries = [
            {
                "Id": str(n),
                "MessageBody": m["Body"],
                **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {}),
                **({"MessageGroupId": group} if (group := m.get("Attributes", {}).get("MessageGroupId")) else {}),
            }
            for n, m in enumerate(messages)
        ]
        sent = {e["Id"] for e in sqs.send_message_batch(QueueUrl=ingest_url, Entries=entries).get("Successful", [])}
        done = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages) if str(n) in sent]
        if done:
            sqs.delete_message_batch(QueueUrl=dead_letter_url, Entries=done)
        moved += len(done)
