"""A continuation's attributes count against SQS's size limit too.

Found by a second adversarial review: the rest is made of the elements' own text, so its body is never
longer than the message it continues, but its two attributes (continuesMessageId, continuesIndexes) are
counted too, and a message done only in part by tiny elements (parked rejects, `1,`) came back larger
than SQS had taken it. A continuation that its attributes would make larger goes without them.
"""

from __future__ import annotations

import json
from typing import Any

from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import export_batch
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis, FakeSqs
from tests.support import profile_event

SQS_MAX_MESSAGE_BYTES = 1024 * 1024


class SizeLimitedIngest:
    """SendMessageBatch that refuses, as SQS does, an entry whose body and attributes exceed the limit."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.refused: list[int] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ok, failed = [], []
        for entry in Entries:
            size = len(entry["MessageBody"].encode()) + sum(
                len(name) + len(value["DataType"]) + len(value["StringValue"].encode())
                for name, value in entry["MessageAttributes"].items()
            )
            if size > SQS_MAX_MESSAGE_BYTES:
                self.refused.append(size)
                failed.append({"Id": entry["Id"], "Code": "InvalidParameterValue", "SenderFault": True})
            else:
                self.sent.append(entry)
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}


def message_at_the_limit() -> str:
    """`[1,E0,E1,...]`: an invalid element, then one profile's events, exactly SQS's 1 MiB with no attributes."""
    events = [json.dumps(profile_event("one-profile", event_id=f"e{n}", note="x" * 1000)) for n in range(800)]
    body = "[1," + ",".join(events) + "]"
    last = json.loads(events[-1])
    last["note"] += "x" * (SQS_MAX_MESSAGE_BYTES - len(body.encode()))
    body = "[1," + ",".join([*events[:-1], json.dumps(last)]) + "]"
    assert len(body.encode()) == SQS_MAX_MESSAGE_BYTES
    return body


def test_a_message_at_the_size_limit_with_a_parked_reject_is_continued_within_the_limit(example_config):
    # Given a message at SQS's limit holding a tiny invalid element and 1,000 events of one profile,
    # and a stream throttling every write for this invocation
    body = message_at_the_limit()
    throttled = FakeKinesis(
        fault=lambda _call, entries: dict.fromkeys(range(len(entries)), "ProvisionedThroughputExceededException")
    )
    writer = KinesisWriter(throttled, example_config.stream.name, base_delay=0.01, max_delay=0.05)
    rejects_sqs, ingest_sqs = FakeSqs(), SizeLimitedIngest()

    # When it is exported (the reject parked: progress, so the rest of it is sent back)
    report = export_batch(
        [("m1", body)],
        RecordPlan(example_config),
        writer,
        RejectsQueue(Queue(rejects_sqs, "https://sqs.local/rejects")),
        Deadline.after(1.6),
        None,
        Queue(ingest_sqs, "https://sqs.local/ingest"),
    )

    # Then the rest, smaller than the message by the parked element, is continued within SQS's limit
    assert report.rejected == 1
    assert ingest_sqs.refused == [], (
        f"continuation of {ingest_sqs.refused[0]:,} bytes for a message of {len(body.encode()):,}: "
        "SQS refused it, so the message is redelivered whole"
    )
    assert report.continued == 1 and report.failed_message_ids == []


def test_a_rest_cut_by_parked_rejects_is_no_larger_than_its_message_attributes_included(example_config):
    # Given 1,000 events then 100 tiny invalid elements each before an event, and a stream refusing
    # every write: the rest is every event, at indexes "0-999,1001,1003,...,1199"
    events = [json.dumps(profile_event("one-profile", event_id=f"e{n}")) for n in range(1_100)]
    elements = events[:1_000] + [text for pair in zip(["1"] * 100, events[1_000:], strict=True) for text in pair]
    body = "[" + ",".join(elements) + "]"
    writer = KinesisWriter(
        FakeKinesis(fault=lambda _c, entries: dict.fromkeys(range(len(entries)), "AccessDeniedException")), "s"
    )
    ingest_sqs = SizeLimitedIngest()

    report = export_batch(
        [("m1", body)],
        RecordPlan(example_config),
        writer,
        RejectsQueue(Queue(FakeSqs(), "https://sqs.local/rejects")),
        Deadline.after(30),
        None,
        Queue(ingest_sqs, "https://sqs.local/ingest"),
    )

    # Then the continuation is no larger than the message it continues
    assert report.rejected == 100, report.failures
    assert report.continued == 1, list(report.failures.values())[:1]
    [sent] = ingest_sqs.sent
    size = len(sent["MessageBody"].encode()) + sum(
        len(name) + len(value["DataType"]) + len(value["StringValue"].encode())
        for name, value in sent["MessageAttributes"].items()
    )
    assert size <= len(body.encode()), f"continuation {size:,} bytes > message {len(body.encode()):,} bytes"
