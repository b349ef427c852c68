"""The promise under faults: every event exported, filtered or waiting in a queue; nothing lost;
one profile's records in order. SQS (with its real redrive policy) and Kinesis are moto's; the
faults come from the proxy in front of Kinesis."""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kinesis_export_cli.local import LambdaContext, poll_once, read_stream, settle_messages, sqs_lambda_event
from tests.faultproxy import CallFault, Disconnect, DropAfterWrite, EntryFaults
from tests.support import body, profile_event

START = datetime(2020, 5, 25, tzinfo=UTC)
MAX_RECEIVES = 5
# Events are sent in waves: moto's SQS spends time on every send in proportion to the queue's length.
WAVE = 100


def events(profiles: int, per_profile: int) -> list[str]:
    """Interleaved profiles; event n qualifies at START + n minutes, which identifies it on the stream."""
    bodies = []
    for n in range(profiles * per_profile):
        event = profile_event(f"profile-{n % profiles}", event_id=f"evt-{n}")
        when = (START + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for membership in event["segmentMembership"]["ups"].values():
            membership["lastQualificationTime"] = when
        bodies.append(body(event))
    return bodies


def identity(key: str, record: dict[str, Any]) -> tuple[str, str]:
    return key, next(iter(record["segmentMembership"]["ups"].values()))["lastQualificationTime"]


def with_dead_letter_queue(pipeline) -> str:
    dlq = pipeline.sqs.create_queue(QueueName=pipeline.ingest_url.rsplit("/", 1)[1] + "-dlq")["QueueUrl"]
    dlq_arn = pipeline.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
    pipeline.sqs.set_queue_attributes(QueueUrl=pipeline.ingest_url, Attributes={"RedrivePolicy": policy})
    return dlq


def send(pipeline, bodies: list[str]) -> None:
    for n in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[n : n + 10])]
        pipeline.sqs.send_message_batch(QueueUrl=pipeline.ingest_url, Entries=entries)


def invoke_until_drained(pipeline, batch_size: int, timeout_seconds: float = 60.0, limit: int = 400):
    """Lambda's poller: receive a batch, invoke, delete what was acknowledged, make the rest visible again.

    Returns each invocation's (delivered bodies in order, acknowledged bodies).
    """
    sqs, url = pipeline.sqs, pipeline.ingest_url
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invocations = []
    for _ in range(limit):
        messages: list[dict[str, Any]] = []
        while len(messages) < batch_size:
            page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
            if not page.get("Messages"):
                break
            messages += page["Messages"]
        if not messages:
            return invocations
        answer = pipeline.handler(
            sqs_lambda_event(messages, arn, "us-east-1"), LambdaContext(timeout_seconds=timeout_seconds)
        )
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        settle_messages(sqs, url, messages, failed)
        acknowledged = [m["Body"] for m in messages if m["MessageId"] not in failed]
        invocations.append(([m["Body"] for m in messages], acknowledged))
    raise AssertionError("the queue never drained")


@pytest.mark.soak
def test_under_heavy_faults_nothing_is_lost_dead_lettered_or_reordered(start_pipeline, fault_proxy, monkeypatch):
    # Per PutRecords call: 5% fail whole (throughput exceeded, 500, 503, connection lost), 3% write
    # and then lose the answer (duplicates), and otherwise 30% of the entries fail.
    rng = random.Random(20261122)

    def fault(call: int, entries: list[dict[str, Any]]):
        draw = rng.random()
        if draw < 0.05:
            return rng.choice(
                [
                    CallFault(400, "ProvisionedThroughputExceededException"),
                    CallFault(500, "InternalFailure"),
                    CallFault(503, "ServiceUnavailable"),
                    Disconnect(),
                ]
            )
        if draw < 0.08:
            return DropAfterWrite()
        codes = ("ProvisionedThroughputExceededException", "InternalFailure")
        return EntryFaults({p: rng.choice(codes) for p in range(len(entries)) if rng.random() < 0.3})

    monkeypatch.setenv("DEADLINE_MARGIN_MS", "1000")
    fault_proxy.fault = fault
    fault_proxy.latency = 0.005  # every PutRecords call a little away, as over a network
    pipeline = start_pipeline(shards=16)
    # Shorter pauses between retries than in production, to keep the suite quick; same logic.
    pipeline.function.writer.base_delay, pipeline.function.writer.max_delay = 0.002, 0.02
    dlq = with_dead_letter_queue(pipeline)
    # 40 profiles over 3,000 events: each batch of 100 holds two or three events of most profiles.
    bodies = events(profiles=40, per_profile=75)
    invocations = []
    for wave in range(0, len(bodies), WAVE):
        send(pipeline, bodies[wave : wave + WAVE])
        invocations += invoke_until_drained(pipeline, batch_size=100)

    assert not pipeline.sqs.receive_message(QueueUrl=dlq).get("Messages"), "nothing dead-lettered"
    stream = read_stream(pipeline.kinesis, pipeline.stream_name)
    copies = Counter(identity(r.partition_key, r.json()) for r in stream)
    expected = {identity(e["identityMap"]["ECID"][0]["id"], e) for e in map(json.loads, bodies)}
    assert set(copies) == expected, "every acknowledged event is on the stream, and nothing else"
    # Within one invocation, one profile's events reach the stream in message order.
    position = {identity(r.partition_key, r.json()): n for n, r in enumerate(stream)}
    checked = 0
    for delivered, acknowledged in invocations:
        by_profile: dict[str, list[int]] = defaultdict(list)
        for event in map(json.loads, (b for b in delivered if b in set(acknowledged))):
            key = identity(event["identityMap"]["ECID"][0]["id"], event)
            if copies[key] == 1:  # a duplicate's first copy may come from an earlier invocation
                by_profile[key[0]].append(position[key])
        for positions in by_profile.values():
            checked += len(positions) > 1
            assert positions == sorted(positions)
    injected = Counter(type(f).__name__ for f in fault_proxy.injected)
    duplicates = sum(copies.values()) - len(copies)
    print(
        f"\n{len(bodies)} events, {len(invocations)} invocations, faults {dict(injected)}, "
        f"duplicates {duplicates}, dead-lettered 0, lost 0, order checked on {checked} profile batches"
    )
    assert checked > 50 and injected["EntryFaults"] > 0 and injected["DropAfterWrite"] > 0


def test_with_the_stream_unreachable_nothing_is_acknowledged_and_the_function_answers_in_time(
    start_pipeline, fault_proxy, monkeypatch
):
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "2000")
    fault_proxy.fault = lambda call, entries: CallFault(503, "ServiceUnavailable") if call % 2 else Disconnect()
    pipeline = start_pipeline()
    send(pipeline, events(profiles=5, per_profile=4))
    messages = pipeline.sqs.receive_message(QueueUrl=pipeline.ingest_url, MaxNumberOfMessages=10)["Messages"]
    event = sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")

    started = time.monotonic()
    answer = pipeline.handler(event, LambdaContext(timeout_seconds=6))
    elapsed = time.monotonic() - started

    assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} == {m["MessageId"] for m in messages}
    assert elapsed < 6, f"answered after {elapsed:.1f} s, past the 6 s timeout"
    assert fault_proxy.put_records_calls > 1, "it retried while it had time"


def test_with_the_stream_deleted_mid_run_nothing_more_is_acknowledged(start_pipeline):
    pipeline = start_pipeline()
    send(pipeline, events(profiles=5, per_profile=4))
    first = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, batch_size=10)
    pipeline.kinesis.delete_stream(StreamName=pipeline.stream_name)

    messages = pipeline.sqs.receive_message(QueueUrl=pipeline.ingest_url, MaxNumberOfMessages=10)["Messages"]
    answer = pipeline.handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )

    assert first == (10, [])
    assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} == {m["MessageId"] for m in messages}
