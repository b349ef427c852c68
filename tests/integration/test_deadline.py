"""The deadline is a hard bound: late, dripped and slow answers, and messages too long for one invocation.

The function answers before its deadline whatever its endpoints do; what it could not finish, or
whose outcome it does not know, is reported failed, never acknowledged.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kinesis_export_cli.local import LambdaContext, poll_once, read_stream, receive_all, sqs_lambda_event
from tests.faultproxy import Drip
from tests.support import body, profile_event

MARGIN_SECONDS = 1.0


def invoke(pipeline: Any, bodies: list[str], timeout_seconds: float) -> tuple[dict[str, Any], float, list[str]]:
    """The handler on one batch of these bodies: its answer, how long it took, and the message ids."""
    messages = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": text} for n, text in enumerate(bodies)]
    event = sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")
    started = time.monotonic()
    answer = pipeline.handler(event, LambdaContext(timeout_seconds=timeout_seconds))
    return answer, time.monotonic() - started, [m["MessageId"] for m in messages]


def failed_ids(answer: dict[str, Any]) -> set[str]:
    return {item["itemIdentifier"] for item in answer["batchItemFailures"]}


def keys_on_stream(pipeline: Any) -> list[str]:
    return [record.partition_key for record in read_stream(pipeline.kinesis, pipeline.stream_name)]


def test_late_putrecords_answers_do_not_hold_the_answer_past_the_deadline(start_pipeline, fault_proxy, monkeypatch):
    # Given every PutRecords answered 2.9 s after its records are written, and more calls than workers
    monkeypatch.setenv("DEADLINE_MARGIN_MS", str(int(MARGIN_SECONDS * 1000)))
    pipeline = start_pipeline()
    fault_proxy.answer_latency = 2.9
    bodies = [body(profile_event(f"late-{n}", event_id=f"e-{n}")) for n in range(4000)]  # 8 calls, 4 at a time

    # When the handler has 4 s (3 s after its margin)
    answer, elapsed, ids = invoke(pipeline, bodies, timeout_seconds=4.0)

    # Then it answers before its deadline, and every message it acknowledged has its record on the stream
    assert elapsed < 4.0 - MARGIN_SECONDS / 2
    assert failed_ids(answer), "8 calls of 2.9 s each cannot all be answered in 3 s"
    time.sleep(3)  # the abandoned calls' records land; they were reported failed, so SQS sends them again
    on_stream = set(keys_on_stream(pipeline))
    acknowledged = [n for n, message_id in enumerate(ids) if message_id not in failed_ids(answer)]
    assert all(f"late-{n}" in on_stream for n in acknowledged)


def test_an_answer_dripped_a_byte_at_a_time_is_abandoned_at_the_deadline(start_pipeline, fault_proxy, monkeypatch):
    # Given PutRecords answers that trickle in one byte every 0.2 s (no single read ever times out)
    monkeypatch.setenv("DEADLINE_MARGIN_MS", str(int(MARGIN_SECONDS * 1000)))
    pipeline = start_pipeline()
    fault_proxy.fault = lambda call, entries: Drip(0.2)
    bodies = [body(profile_event(f"drip-{n}", event_id=f"e-{n}")) for n in range(10)]

    # When the handler has 3 s
    answer, elapsed, ids = invoke(pipeline, bodies, timeout_seconds=3.0)

    # Then it answers in time, and reports every message failed: written or not, nobody knows
    assert elapsed < 3.0 - MARGIN_SECONDS / 2
    assert failed_ids(answer) == set(ids)


def test_a_slow_rejects_queue_holds_back_neither_the_answer_nor_the_valid_events(
    start_pipeline, fault_proxy, monkeypatch
):
    # Given a rejects queue that takes 3 s a call, and a batch of 300 invalid and 200 valid messages
    monkeypatch.setenv("DEADLINE_MARGIN_MS", str(int(MARGIN_SECONDS * 1000)))
    pipeline = start_pipeline(sqs_via_proxy=True)
    fault_proxy.delays["SendMessageBatch"] = 3.0
    invalid = [json.dumps({"eventId": f"bad-{n}"}) for n in range(300)]
    valid = [body(profile_event(f"good-{n}", event_id=f"good-{n}")) for n in range(200)]

    # When the handler has 8 s
    answer, elapsed, ids = invoke(pipeline, invalid + valid, timeout_seconds=8.0)

    # Then it answers in time; every valid message is acknowledged with its record on the stream
    assert elapsed < 8.0 - MARGIN_SECONDS / 2
    failed = failed_ids(answer)
    assert not failed & set(ids[300:])
    assert {f"good-{n}" for n in range(200)} <= set(keys_on_stream(pipeline))
    # and every invalid one is parked or reported failed (SQS delivers it again): none is lost
    time.sleep(3.5)  # the calls abandoned at the deadline end
    parked = {
        m["MessageAttributes"]["sourceMessageId"]["StringValue"]
        for m in receive_all(pipeline.sqs, pipeline.rejects_url)
    }
    assert set(ids[:300]) <= parked | failed
    assert failed, "30 calls of 3 s, 4 at a time, cannot all be answered in 7 s"


def test_a_message_too_long_for_one_invocation_continues_where_it_stopped(start_pipeline, fault_proxy, monkeypatch):
    # Given one message holding 400 events of one profile, written one PutRecords round trip each (in order)
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "500")
    pipeline = start_pipeline()
    fault_proxy.answer_latency = 0.01
    names = [f"event-{n:03d}" for n in range(400)]  # each event's record tells it by its lastName
    events = [
        profile_event("one-profile", event_id=name, attributes={"person": {"name": {"lastName": name}}})
        for name in names
    ]
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=json.dumps(events))

    # When Lambda's poller hands it to invocations of 2.5 s until the queue is empty
    deliveries = whole = 0
    while deliveries < 100:
        delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=2.5)
        if not delivered:
            break
        deliveries += 1
        whole += bool(failed)  # redelivered whole: a call abandoned at the deadline may still land (rare)

    # Then every event is on the stream in order, and no delivery wrote the head again
    records = read_stream(pipeline.kinesis, pipeline.stream_name)
    order = [record.json()["person"]["name"]["lastName"] for record in records]
    assert deliveries > 1, "the message should not fit in one invocation"
    assert list(dict.fromkeys(order)) == names
    assert whole <= 1 and order.count(names[0]) == 1 + whole
    if not whole:
        # A duplicate only where a write's answer was cut off by an invocation's deadline: one at most per delivery.
        assert len(order) - len(names) < deliveries
