"""A continuation's events count their latency from when they first arrived in the ingest queue.

A continuation (the rest of a long message, sent back to the ingest queue) has a SentTimestamp of its
own, later than its origin's by the invocations that wrote the head of it: it carries its origin's in
`continuesSentTimestamp`, which a producer can set too, and which is taken only within bounds.
"""

from __future__ import annotations

import json
import time

import pytest

from kinesis_export import metrics as names
from kinesis_export import wiring
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import MAX_ORIGIN_AGE_MS, ORIGIN_SENT_ATTRIBUTE, arrival, export_batch
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.local import LambdaContext, sqs_lambda_event
from tests.fakes import FakeIngest, FakeKinesis, FakeSqs
from tests.support import EXAMPLE_CONFIG, body, emitted_metrics, handler_module, profile_event

SENT = 1_790_000_000_000  # a SentTimestamp, epoch milliseconds


def test_a_continuation_carries_when_its_events_first_arrived(example_config):
    # given an array of two profiles' events that arrived at SENT (as the origin of a continuation said),
    # the second one's record refused for good: the first is written, the second continued
    kinesis = FakeKinesis(lambda call, entries: {1: "KMSDisabledException"} if call == 1 else None)
    ingest = FakeIngest()
    array = json.dumps([profile_event("p1", event_id="e1"), profile_event("p2", event_id="e2")])

    # when it is exported
    report = export_batch(
        [("m1", array)],
        RecordPlan(example_config),
        KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None),
        None,
        Deadline.after(30),
        None,
        Queue(ingest, "https://sqs.local/ingest"),
        sent_at={"m1": SENT},
    )

    # then its rest goes back to the ingest queue with the time its events first arrived
    assert report.continued == 1 and report.failed_message_ids == []
    [attributes] = ingest.attributes
    assert attributes[ORIGIN_SENT_ATTRIBUTE] == {"DataType": "Number", "StringValue": str(SENT)}


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (None, SENT),
        (str(SENT - 90_000), SENT - 90_000),  # a continuation: its origin's time
        (str(SENT - MAX_ORIGIN_AGE_MS), SENT - MAX_ORIGIN_AGE_MS),
        (str(SENT - MAX_ORIGIN_AGE_MS - 1), SENT),  # older than SQS keeps a message: forged
        (str(SENT + 1), SENT),  # later than the message itself: forged
        ("-5", SENT),
        ("1.79e12", SENT),
        ("9" * 5000, SENT),  # int() would raise: the batch must not fail
    ],
    ids=["own", "origin", "oldest", "too-old", "later", "negative", "not-digits", "5000-digits"],
)
def test_a_message_s_events_arrived_at_its_origin_s_time_only_within_bounds(origin, expected):
    assert arrival(str(SENT), origin) == expected


def test_without_a_sent_timestamp_there_is_no_arrival():
    assert arrival(None, str(SENT)) is None
    assert arrival("", None) is None


def test_the_handler_counts_a_continuation_s_latency_from_its_origin(capsys):
    # given a continuation sent a second ago, whose origin arrived a minute ago
    handler = handler_module("export").handler_for(
        wiring.exporter(
            {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"},
            kinesis=FakeKinesis(),
            sqs=FakeSqs(),
        )
    )
    now = int(time.time() * 1000)
    message = {
        "MessageId": "c1",
        "ReceiptHandle": "r1",
        "Body": "[" + body(profile_event("p1")) + "]",
        "Attributes": {"SentTimestamp": str(now - 1000)},
        "MessageAttributes": {ORIGIN_SENT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(now - 60_000)}},
    }
    capsys.readouterr()

    # when the function takes it
    handler(sqs_lambda_event([message], "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext())

    # then its event's latency runs from the origin's arrival
    [latency] = emitted_metrics(capsys.readouterr().out)[names.EXPORT_LATENCY]
    assert 60_000 <= latency < 70_000
