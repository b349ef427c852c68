"""Records over 1 MiB through the function, to a stream that takes them, against moto's server (extended to).

A record can be larger than its message, which SQS keeps to 1 MiB: here each of 1,000 segments brings
its 1,024-character name (includeSegmentNames), about 1.1 MB, to a message of half a megabyte.
"""

from __future__ import annotations

from typing import Any

from kinesis_export_cli.local import LambdaContext, read_stream, receive_all, sqs_lambda_event
from tests.integration.conftest import REGION
from tests.support import body, profile_event

MIB = 1024 * 1024
SEGMENTS = [f"{n:08x}-3c48-4b18-bf56-4f5c5e6967ae" for n in range(1000)]
NAMED_SEGMENTS = {
    "segments": [{"id": segment, "name": "n" * 1024} for segment in SEGMENTS],
    "includeSegmentNames": True,
}


def batch(pipeline: Any, *events: dict[str, Any]) -> dict[str, Any]:
    """The function's answer to one batch of these events, one message each (each within SQS's 1 MiB)."""
    messages = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": body(e)} for n, e in enumerate(events)]
    assert all(len(message["Body"].encode()) < MIB for message in messages)
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:ingest"
    return pipeline.handler(sqs_lambda_event(messages, queue_arn, REGION), LambdaContext())


def event(ecid: str, *, large: bool = False) -> dict[str, Any]:
    """A member of one segment; a large one is in all 1,000, with a 400 KB attribute: its record is about 1.5 MiB."""
    membership = {"status": "realized", "lastQualificationTime": "2020-05-25T21:24:39Z"}
    if not large:
        return profile_event(ecid, segmentMembership={"ups": {SEGMENTS[0]: membership}})
    return profile_event(
        ecid,
        segmentMembership={"ups": dict.fromkeys(SEGMENTS, membership)},
        attributes={"person": {"email": "x" * 400_000}},
    )


def test_a_stream_of_two_mebibyte_records_takes_a_record_of_one_and_a_half(start_pipeline):
    # given a stream, and a config, of 2 MiB records
    pipeline = start_pipeline(max_record_size_kib=2048, **NAMED_SEGMENTS)

    # when a batch holds a record of about 1.5 MiB between two small ones
    answer = batch(pipeline, event("small-1"), event("large", large=True), event("small-2"))

    # then every record is on the stream, the large one whole
    assert answer == {"batchItemFailures": []}
    records = {record.partition_key: record for record in read_stream(pipeline.kinesis, pipeline.stream_name)}
    assert sorted(records) == ["large", "small-1", "small-2"]
    assert 1.4 * MIB < len(records["large"].data) < 2 * MIB
    assert len(records["large"].json()["segmentMembership"]["ups"]) == 1000
    assert receive_all(pipeline.sqs, pipeline.rejects_url) == []


def test_a_config_of_one_mebibyte_records_rejects_it_naming_the_limit_and_writes_the_others(start_pipeline):
    # given a stream, and a config, of 1 MiB records (the default)
    pipeline = start_pipeline(**NAMED_SEGMENTS)

    # when the same batch comes
    answer = batch(pipeline, event("small-1"), event("large", large=True), event("small-2"))

    # then the large event is parked as a reject naming the limit in force (no value of the record),
    # and the others are written
    assert answer == {"batchItemFailures": []}
    assert sorted(r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)) == [
        "small-1",
        "small-2",
    ]
    [reject] = receive_all(pipeline.sqs, pipeline.rejects_url)
    attributes = {name: value["StringValue"] for name, value in reject["MessageAttributes"].items()}
    assert attributes["errorCode"] == "RECORD_TOO_LARGE"
    size = int(attributes["errorReason"].split()[2])
    assert 1.4 * MIB < size < 2 * MIB
    assert attributes["errorReason"] == (
        f"record is {size} bytes; stream {pipeline.stream_name} takes at most 1048576 (stream.maxRecordSizeKiB: 1024)"
    )
