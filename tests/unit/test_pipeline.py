"""One batch through parse, build, write and rejects, with fake clients."""

from __future__ import annotations

import json

from kinesis_export.pipeline import Message, export_batch
from kinesis_export.records import RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import Deadline, KinesisWriter
from tests.fakes import FakeKinesis, FakeSqs
from tests.support import body, profile_event

NOT_JSON = '{"eventId": '
NO_IDENTITY = json.dumps({"eventId": "x", "identityMap": {}, "segmentMembership": {"ups": {}}})


def run(example_config, messages, kinesis=None, sqs=None):
    kinesis = kinesis or FakeKinesis()
    rejects = RejectsQueue(sqs, "https://sqs.local/rejects") if sqs is not None else None
    writer = KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None)
    return export_batch(messages, RecordPlan(example_config), writer, rejects, Deadline.after(30)), kinesis


def test_invalid_messages_are_parked_with_their_reason_and_never_block_valid_ones(example_config):
    sqs = FakeSqs()
    messages = [Message("m1", NOT_JSON), Message("m2", body(profile_event("1"))), Message("m3", NO_IDENTITY)]

    report, kinesis = run(example_config, messages, sqs=sqs)

    assert report.failed_message_ids == []
    assert (report.exported, report.rejected) == (1, 2)
    assert len(kinesis.stream) == 1
    parked = {e["MessageAttributes"]["sourceMessageId"]["StringValue"]: e for e in sqs.sent}
    assert parked["m1"]["MessageBody"] == NOT_JSON
    assert parked["m1"]["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_JSON"
    assert (
        parked["m3"]["MessageAttributes"]["errorReason"]["StringValue"] == "identityMap must hold at least one identity"
    )


def test_without_a_rejects_queue_invalid_messages_are_reported_failed(example_config):
    messages = [Message("m1", NOT_JSON), Message("m2", body(profile_event("1")))]

    report, kinesis = run(example_config, messages)

    assert report.failed_message_ids == ["m1"]
    assert "no rejects queue is configured" in report.failures["m1"]
    assert report.exported == 1 and len(kinesis.stream) == 1


def test_rejects_the_queue_did_not_take_are_reported_failed(example_config):
    messages = [Message("m1", NOT_JSON), Message("m2", NO_IDENTITY)]

    refused, _ = run(example_config, messages, sqs=FakeSqs(refuse=frozenset({"m2"})))
    unreachable, _ = run(example_config, messages, sqs=FakeSqs(down=True))

    assert refused.failed_message_ids == ["m2"] and refused.rejected == 1
    assert unreachable.failed_message_ids == ["m1", "m2"] and unreachable.rejected == 0


def test_filtered_events_are_acknowledged_and_counted(example_config):
    unmapped = profile_event("1")
    unmapped["segmentMembership"]["ups"] = {}

    report, kinesis = run(example_config, [Message("m1", body(unmapped))])

    assert report.filtered == 1 and report.failed_message_ids == [] and kinesis.calls == []


def test_only_the_messages_whose_records_failed_are_reported(example_config):
    kinesis = FakeKinesis(lambda call, entries: {1: "AccessDeniedException"})
    messages = [Message(f"m{n}", body(profile_event(str(n)))) for n in range(3)]

    report, _ = run(example_config, messages, kinesis=kinesis)

    assert report.failed_message_ids == ["m1"]
    assert report.exported == 2
