"""The handler end to end over real HTTP: SQS and Kinesis served by moto, faults by our proxy."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from kinesis_export_cli.local import poll_once, read_stream, receive_all
from tests.faultproxy import CallFault, Disconnect, EntryFaults
from tests.support import ROOT, body, profile_event

SAMPLES = ROOT / "events" / "sqs-segment-events.json"
START = datetime(2020, 5, 25, tzinfo=UTC)


def send(pipeline, bodies: list[str]) -> None:
    for n in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[n : n + 10])]
        pipeline.sqs.send_message_batch(QueueUrl=pipeline.ingest_url, Entries=entries)


def numbered_events(profiles: int, per_profile: int) -> list[str]:
    """Events interleaved across profiles; event n's qualification time is START + n minutes."""
    bodies = []
    for n in range(profiles * per_profile):
        event = profile_event(f"profile-{n % profiles}", event_id=f"evt-{n}")
        when = (START + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        event["segmentMembership"]["ups"] = {
            k: {**v, "lastQualificationTime": when} for k, v in event["segmentMembership"]["ups"].items()
        }
        bodies.append(body(event))
    return bodies


def qualification_times(record_json: dict[str, Any]) -> str:
    return next(iter(record_json["segmentMembership"]["ups"].values()))["lastQualificationTime"]


def drain(pipeline, rounds: int = 10) -> list[list[str]]:
    """Poll like Lambda until the queue is empty; returns the failures reported by each invocation."""
    failures = []
    for _ in range(rounds):
        delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, batch_size=1000)
        if not delivered:
            break
        failures.append(failed)
    return failures


def test_sample_events_become_seeds_records_and_rejects(start_pipeline):
    pipeline = start_pipeline()
    samples = json.loads(SAMPLES.read_text())["Records"]
    send(pipeline, [record["body"] for record in samples])

    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    assert (delivered, failed) == (len(samples), [])
    records = {r.partition_key: r.json() for r in read_stream(pipeline.kinesis, pipeline.stream_name)}
    golden = json.loads((ROOT / "tests" / "golden" / "seeds-exported-data.json").read_text())
    assert records["14575006536349286404619648085736425115"] == golden
    assert len(records) == 3
    rejected = receive_all(pipeline.sqs, pipeline.rejects_url)
    assert sorted(m["MessageAttributes"]["errorCode"]["StringValue"] for m in rejected) == [
        "INVALID_EVENT",
        "INVALID_JSON",
    ]
    assert {m["Body"] for m in rejected} == {samples[4]["body"], samples[5]["body"]}
    assert (
        pipeline.sqs.get_queue_attributes(QueueUrl=pipeline.ingest_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


def test_invalid_input_without_rejects_queue_is_retried_and_never_blocks_valid_input(start_pipeline):
    pipeline = start_pipeline(rejects_queue=False)
    send(pipeline, [body(profile_event("valid-1")), "not json", body(profile_event("valid-2"))])

    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    assert delivered == 3 and len(failed) == 1
    assert sorted(r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)) == [
        "valid-1",
        "valid-2",
    ]
    left = pipeline.sqs.receive_message(QueueUrl=pipeline.ingest_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == ["not json"]


def test_under_partial_failures_every_acknowledged_message_is_on_the_stream_in_key_order(start_pipeline, fault_proxy):
    # The first calls lose entries to busy shards and internal failures, then a call is throttled,
    # one fails with a 500 and one loses its connection; later calls go through.
    def fault(call: int, entries: list[dict[str, Any]]):
        if call <= 3:
            return EntryFaults(
                {
                    p: "ProvisionedThroughputExceededException" if p % 2 else "InternalFailure"
                    for p in range(0, len(entries), 3)
                }
            )
        return {
            4: CallFault(400, "ProvisionedThroughputExceededException"),
            5: CallFault(500, "InternalFailure"),
            6: Disconnect(),
        }.get(call)

    fault_proxy.fault = fault
    pipeline = start_pipeline(shards=4)
    bodies = numbered_events(profiles=20, per_profile=10)
    send(pipeline, bodies)

    failures = drain(pipeline)

    assert failures == [[]], "every message was written within the invocation"
    assert len(fault_proxy.injected) == 6
    stream = read_stream(pipeline.kinesis, pipeline.stream_name)
    assert len(stream) == len(bodies), "each record exactly once"
    written: dict[str, list[str]] = defaultdict(list)
    for record in stream:
        written[record.partition_key].append(qualification_times(record.json()))
    for key, times in written.items():
        assert times == sorted(times), f"records of {key} out of order"
    assert len(written) == 20


def test_records_that_cannot_be_written_are_reported_and_written_on_redelivery(start_pipeline, fault_proxy):
    # Access is denied for a while (a policy being fixed): the batch is reported failed, then redelivered.
    fault_proxy.fault = lambda call, entries: CallFault(400, "AccessDeniedException") if call == 1 else None
    pipeline = start_pipeline()
    bodies = numbered_events(profiles=5, per_profile=2)
    send(pipeline, bodies)

    failures = drain(pipeline)

    assert [len(f) for f in failures] == [len(bodies), 0]
    stream = read_stream(pipeline.kinesis, pipeline.stream_name)
    assert len(stream) == len(bodies)


def test_a_key_whose_record_fails_keeps_its_later_records_back(start_pipeline, fault_proxy):
    # Profile-0's first record fails for good in the first invocation; its second must not overtake it.
    def fault(call: int, entries: list[dict[str, Any]]):
        if call == 1:
            return EntryFaults(
                {p: "InvalidArgumentException" for p, e in enumerate(entries) if e["PartitionKey"] == "profile-0"}
            )
        return None

    fault_proxy.fault = fault
    pipeline = start_pipeline()
    send(pipeline, numbered_events(profiles=3, per_profile=2))

    failures = drain(pipeline)

    assert [len(f) for f in failures] == [2, 0]
    times = [
        qualification_times(r.json())
        for r in read_stream(pipeline.kinesis, pipeline.stream_name)
        if r.partition_key == "profile-0"
    ]
    assert times == sorted(times) and len(times) == 2


def test_an_array_message_is_exported_element_by_element_in_order_with_its_invalid_element_parked(start_pipeline):
    # given one message holding four events of one profile, the third of them invalid, the second in an envelope
    pipeline = start_pipeline()
    first, second, third, fourth = (json.loads(b) for b in numbered_events(profiles=1, per_profile=4))
    invalid = {key: value for key, value in third.items() if key != "eventId"}
    elements = [first, {"detail-type": "Segment Qualification", "source": "test", "detail": second}, invalid, fourth]
    message_id = pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=json.dumps(elements))["MessageId"]

    # when Lambda's poller delivers it
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    # then it is acknowledged; its three valid events are on the stream in the array's order
    assert (delivered, failed) == (1, [])
    stream = read_stream(pipeline.kinesis, pipeline.stream_name)
    assert [qualification_times(r.json()) for r in stream] == [
        "2020-05-25T00:00:00Z",
        "2020-05-25T00:01:00Z",
        "2020-05-25T00:03:00Z",
    ]
    # and the invalid one is parked alone: its own JSON, the source message and its index beside it
    [rejected] = receive_all(pipeline.sqs, pipeline.rejects_url)
    assert json.loads(rejected["Body"]) == invalid
    attributes = {name: value["StringValue"] for name, value in rejected["MessageAttributes"].items()}
    assert attributes == {
        "errorCode": "INVALID_EVENT",
        "errorReason": "[2] eventId: required",
        "sourceMessageId": message_id,
        "sourceIndex": "2",
    }


def test_a_message_whose_element_fails_to_write_continues_with_that_element_alone(start_pipeline, fault_proxy):
    # given the first PutRecords call refuses one profile's record: the second element of an array
    def fault(call: int, entries: list[dict[str, Any]]):
        if call == 1:
            return EntryFaults(
                {p: "InvalidArgumentException" for p, e in enumerate(entries) if e["PartitionKey"] == "b"}
            )
        return None

    fault_proxy.fault = fault
    pipeline = start_pipeline()
    array = json.dumps([profile_event(key, event_id=f"evt-{key}") for key in ("a", "b", "c")])
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=array)
    send(pipeline, [body(profile_event("d", event_id="evt-d"))])

    # when Lambda's poller delivers the batch, then what it reported failed
    failures = drain(pipeline)

    # then the array message was acknowledged once its unfinished element went back to the ingest queue as
    # a message of its own, which the next delivery wrote: every element is on the stream, none twice
    assert failures == [[], []]
    written = Counter(r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name))
    assert written == Counter({"a": 1, "b": 1, "c": 1, "d": 1})


def test_a_reject_parked_from_a_continuation_names_the_producers_message_and_index(start_pipeline, monkeypatch):
    # given an array whose second element is invalid, and no rejects queue the first time it is taken:
    # its valid element is written, the invalid one goes on in a continuation
    pipeline = start_pipeline()
    rejects = pipeline.function.rejects
    monkeypatch.setattr(pipeline.function, "rejects", None)
    array = json.dumps([profile_event("a", event_id="evt-a"), {"eventId": "evt-b"}])
    producers_id = pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=array)["MessageId"]
    assert poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler) == (1, [])

    # when the continuation is taken with the rejects queue back
    monkeypatch.setattr(pipeline.function, "rejects", rejects)
    assert poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler) == (1, [])

    # then the reject names the message the producer sent, and the element's index in it
    [parked] = receive_all(pipeline.sqs, pipeline.rejects_url)
    attributes = {name: value["StringValue"] for name, value in parked["MessageAttributes"].items()}
    assert (attributes["sourceMessageId"], attributes["sourceIndex"]) == (producers_id, "1")
    assert [r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)] == ["a"]
