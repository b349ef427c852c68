"""Work that grows with the number of array elements stays within the deadline.

Found by an adversarial review: every AWS call was bounded by the deadline, but reading every element
(`prepare`), encoding each invalid element's body, and a log line per rejection were not. A body
`[1,1,1,...]` of 256 KiB holds 131,000 invalid elements: 131,000 rejects, SendMessageBatch entries and
log lines. A few of them in a batch kept the handler busy past Lambda's timeout, so the whole batch, its
valid messages with it, came back again and again.
"""

from __future__ import annotations

import json
import time

from kinesis_export_cli.local import LambdaContext, read_stream, receive_all, sqs_lambda_event
from tests.support import body, profile_event

# Ample: these tests are about what is parked and written, not speed. Reading 393,000 invalid elements takes
# seconds of CPU, and more than half of 10 s when tests share the cores (pytest -n auto), so the messages after
# them were left unread (and failed, as they should be) in 2 of some 10 parallel runs.
TIMEOUT_SECONDS = 30.0


def test_arrays_of_many_invalid_elements_are_parked_whole_and_the_valid_message_written(start_pipeline):
    # Given a batch of 3 hostile messages (256 KiB each, within SQS's limits, 0.8 MB in all: well within
    # Lambda's 6 MB payload) and one valid message
    pipeline = start_pipeline()
    hostile = "[" + ",".join(["1"] * 131_000) + "]"
    assert len(hostile) <= 256 * 1024
    bodies = [hostile] * 3 + [body(profile_event("valid", event_id="valid"))]
    messages = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": text} for n, text in enumerate(bodies)]
    event = sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")

    # When the handler has 30 s
    started = time.monotonic()
    answer = pipeline.handler(event, LambdaContext(timeout_seconds=TIMEOUT_SECONDS))
    elapsed = time.monotonic() - started

    # Then it answers before its timeout, every message done: the hostile ones parked whole, one reject each
    assert elapsed < TIMEOUT_SECONDS, f"answered after {elapsed:.1f} s, past the {TIMEOUT_SECONDS:.0f} s timeout"
    assert answer == {"batchItemFailures": []}
    parked = receive_all(pipeline.sqs, pipeline.rejects_url)
    assert sorted(m["MessageAttributes"]["sourceMessageId"]["StringValue"] for m in parked) == ["m0", "m1", "m2"]
    assert all(m["Body"] == hostile for m in parked)
    assert [r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name)] == ["valid"]


def test_a_batch_too_large_to_read_in_time_is_answered_in_time_with_the_unread_messages_failed(start_pipeline):
    # Given 2,000 arrays of 1,000 events each: more than the function can read in 1 s
    pipeline = start_pipeline()
    array = json.dumps([profile_event(f"p-{n}", event_id=f"e-{n}") for n in range(1000)])
    messages = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": array} for n in range(2000)]
    event = sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")

    # When the handler has 4 s (2 s after the margin; 1 s of it to read)
    started = time.monotonic()
    answer = pipeline.handler(event, LambdaContext(timeout_seconds=4.0))
    elapsed = time.monotonic() - started

    # Then it answers in time, with the messages it did not read reported failed (SQS delivers them again)
    assert elapsed < 4.0
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    assert "m1999" in failed
