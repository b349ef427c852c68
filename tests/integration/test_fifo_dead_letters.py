"""A record the stream refuses: it fails alone, and through a FIFO queue it takes the later messages of its
group to the dead-letter queue.

Against moto's server, extended to streams' MaxRecordSizeInKiB (kinesis_export_cli.local.take_large_records).
The config says 2 MiB records; the stream takes 1 MiB: the mismatch `check` reports, left unfixed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from kinesis_export_cli.local import LambdaContext, read_stream, settle_messages, sqs_lambda_event
from kinesis_export_cli.operations import redrive
from tests.integration.conftest import REGION
from tests.integration.test_large_records import NAMED_SEGMENTS, batch, event


def _shrink_stream(pipeline: Any, kib: int) -> None:
    arn = pipeline.kinesis.describe_stream_summary(StreamName=pipeline.stream_name)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    pipeline.kinesis.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=kib)


def test_a_record_the_stream_refuses_fails_alone_and_its_neighbours_are_written(start_pipeline):
    # given a config of 2 MiB records and a stream that takes 1 MiB
    pipeline = start_pipeline(max_record_size_kib=2048, **NAMED_SEGMENTS)
    _shrink_stream(pipeline, 1024)

    # when a batch holds a record of about 1.5 MiB between two small ones
    answer = batch(pipeline, event("small-1"), event("large", large=True), event("small-2"))

    # then only the large record's message fails; the call refused whole held nothing else
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert sorted(r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)) == [
        "small-1",
        "small-2",
    ]


def _fifo_queues(sqs: Any, name: str, max_receive_count: int) -> tuple[str, str, str]:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dead = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes=attributes)["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes=attributes | {"RedrivePolicy": policy})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dead


def _drain(pipeline: Any, url: str, arn: str) -> None:
    """Lambda's FIFO poller, played until nothing is delivered: failed messages come back at once."""
    for _ in range(20):
        messages = pipeline.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            return
        answer = pipeline.handler(sqs_lambda_event(messages, arn, REGION), LambdaContext())
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        settle_messages(pipeline.sqs, url, messages, failed)
    raise AssertionError("the queue never drained")


def _sequence(pipeline: Any, profile: str) -> list[str]:
    order: dict[str, list[str]] = defaultdict(list)
    for record in read_stream(pipeline.kinesis, pipeline.stream_name):
        order[record.partition_key].append(record.json()["person"]["name"])
    return order[profile]


def test_a_poison_message_takes_its_groups_later_messages_to_the_dead_letter_queue_and_is_overtaken(
    start_pipeline,
):
    # given a FIFO ingest queue (maxReceiveCount 2) and a stream that refuses the one large record
    pipeline = start_pipeline(
        max_record_size_kib=2048, ingest={"fifo": True}, attributes=["person.name"], **NAMED_SEGMENTS
    )
    _shrink_stream(pipeline, 1024)
    url, arn, dead = _fifo_queues(pipeline.sqs, f"ingest-{pipeline.stream_name}", 2)

    def send(name: str, *, large: bool = False) -> None:
        sent = event("profile-p", large=large)
        sent["eventId"] = name
        sent.setdefault("attributes", {}).setdefault("person", {})["name"] = name
        pipeline.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(sent), MessageGroupId="profile-p")

    # when profile-p's e1 (too large for the stream) and e2 (small) are sent and the poller runs
    send("e1", large=True)
    send("e2")
    _drain(pipeline, url, arn)
    dead_lettered = pipeline.sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["ApproximateNumberOfMessages"])

    # then e2, valid, is dead-lettered with e1 (it shares e1's deliveries), and nothing of the profile is on the stream
    assert dead_lettered["Attributes"]["ApproximateNumberOfMessages"] == "2"
    assert _sequence(pipeline, "profile-p") == []

    # and when e3 is sent, then the stream raised and the dead letters redriven (the runbook's fix)
    send("e3")
    _drain(pipeline, url, arn)
    _shrink_stream(pipeline, 2048)
    redrive(pipeline.sqs, dead, url)
    _drain(pipeline, url, arn)

    # then every event is on the stream, but e3 before e1 and e2: the profile's order is not kept
    # end to end once a message is dead-lettered (README, "The dead-letter queue ends the order")
    assert _sequence(pipeline, "profile-p") == ["e3", "e1", "e2"]
