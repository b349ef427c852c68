"""Per-profile order end to end through a FIFO ingest queue, under faults, over many invocations.

The ingest queue is moto's SQS FIFO queue, on its server: it keeps a message group from being
delivered while one of its messages is in flight, and a message that comes back comes back before the
later ones of its group (moto 5.2.5, moto/sqs/models.py: `receive_message` skips the groups of pending
messages and walks the queue in send order; `test_moto_delivers_a_fifo_queue_as_sqs_does` pins both).
The poller here plays Lambda's: a batch of up to ten, the handler's answer, the acknowledged messages
deleted and the others returned. A returned message comes back once every call of its invocation has
ended (`FaultProxy.quiet`), as on AWS, where it waits out the visibility timeout.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from kinesis_export import pipeline as pipeline_module
from kinesis_export_cli.local import LambdaContext, read_stream, receive_all, settle_messages, sqs_lambda_event
from tests.faultproxy import CallFault, Disconnect, DropAfterWrite, EntryFaults, Fault
from tests.integration.conftest import REGION
from tests.support import profile_event

PROFILES = 30
EVENTS_PER_PROFILE = 10
START = datetime(2020, 5, 25, tzinfo=UTC)
# Invocations allowed before the queue must be empty: many times what the faults need.
MAX_INVOCATIONS = 400


def _qualified_at(sequence: int) -> str:
    return (START + timedelta(minutes=sequence)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(profile: str, sequence: int) -> dict[str, Any]:
    """Event `sequence` of a profile: its qualification time says which it is, on the stream."""
    event = profile_event(profile, event_id=f"{profile}-e{sequence}")
    for membership in event["segmentMembership"]["ups"].values():
        membership["lastQualificationTime"] = _qualified_at(sequence)
    return event


def _messages_of(profile: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """A profile's events as message bodies, in order: one event, two in an array, events and invalid
    elements in an array, or a body that is not JSON. Also the invalid elements and bodies, each unique."""
    bodies: list[str] = []
    invalid: list[str] = []
    sequence = 0
    while sequence < EVENTS_PER_PROFILE:
        draw = rng.random()
        if draw < 0.05:
            bodies.append(f'{{"eventId": "{profile}-broken-{sequence}"')
            invalid.append(bodies[-1])
            continue
        if draw < 0.55:
            bodies.append(json.dumps(_event(profile, sequence)))
            sequence += 1
            continue
        count = min(2, EVENTS_PER_PROFILE - sequence)
        elements = [json.dumps(_event(profile, sequence + n)) for n in range(count)]
        if draw < 0.8:
            bad = json.dumps({"eventId": f"{profile}-bad-{sequence}"})  # no identityMap: rejected alone
            elements.insert(rng.randrange(len(elements) + 1), bad)
            invalid.append(bad)
        bodies.append("[" + ",".join(elements) + "]")
        sequence += count
    return bodies, invalid


def _send_interleaved(sqs: Any, url: str, per_profile: dict[str, list[str]], rng: random.Random) -> int:
    """Each profile's messages in its order, profiles interleaved in runs of one to three messages (so a
    batch holds several messages of a group); MessageGroupId is the profile, as a producer sets it."""
    entries: list[dict[str, str]] = []
    left = {profile: list(bodies) for profile, bodies in per_profile.items()}
    while left:
        profile = rng.choice(sorted(left))
        for _ in range(rng.randint(1, 3)):
            if left[profile]:
                entries.append({"MessageBody": left[profile].pop(0), "MessageGroupId": profile})
        if not left[profile]:
            del left[profile]
    for start in range(0, len(entries), 10):
        chunk = [{"Id": str(n), **entry} for n, entry in enumerate(entries[start : start + 10])]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=chunk)
        assert not answer.get("Failed"), answer["Failed"]
    return len(entries)


def _first_and_last(sequences: list[int]) -> tuple[list[int], list[int]]:
    """The order a consumer that keeps a record's first copy sees, and one that keeps its last."""
    first = list(dict.fromkeys(sequences))
    last = list(reversed(dict.fromkeys(reversed(sequences))))
    return first, last


def _fifo_queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(
        QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def test_moto_delivers_a_fifo_queue_as_sqs_does(start_pipeline):
    # The order test below relies on these two rules of SQS FIFO, as moto's server plays them.
    sqs = start_pipeline(ingest={"fifo": True}).sqs
    url, _ = _fifo_queue(sqs, "fifo-semantics")
    for body, group in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)

    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300)["Messages"]
    while_a1_in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    for message in while_a1_in_flight:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    after_a1_returned = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]

    # a group with a message in flight is not delivered; a returned message comes before the later ones
    assert [m["Body"] for m in first] == ["a1"]
    assert [m["Body"] for m in while_a1_in_flight] == ["b1", "b2"]
    assert [m["Body"] for m in after_a1_returned] == ["a1", "a2"]


def test_under_faults_each_profiles_records_keep_their_order_through_a_fifo_queue(
    start_pipeline, fault_proxy, monkeypatch
):
    # Given a function for a FIFO config (whose environment names an ingest queue all the same: it must not
    # continue to it), its SQS traffic (the rejects queue) through the proxy, short answers to answer in time
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "300")
    rng, fault_rng = random.Random(1722), random.Random(2217)  # the test's draws; the proxy threads' draws
    faults = threading.Lock()

    def fault(call: int, entries: list[dict[str, Any]]) -> Fault:
        # Per PutRecords call: 4% fail whole, 4% write and then lose the answer, else 20% of the entries fail.
        with faults:
            draw = fault_rng.random()
            if draw < 0.04:
                return fault_rng.choice(
                    [CallFault(500, "InternalFailure"), CallFault(503, "ServiceUnavailable"), Disconnect()]
                )
            if draw < 0.08:
                return DropAfterWrite()
            return EntryFaults(
                {p: "ProvisionedThroughputExceededException" for p in range(len(entries)) if fault_rng.random() < 0.2}
            )

    fault_proxy.fault = fault
    fault_proxy.latency = 0.01
    pipeline = start_pipeline(shards=4, sqs_via_proxy=True, ingest={"fifo": True})
    assert pipeline.function.ingest is None
    pipeline.function.writer.base_delay, pipeline.function.writer.max_delay = 0.002, 0.02
    held: list[str] = []
    rule = pipeline_module.held_for_group_order

    def counted(*args: Any) -> list[str]:
        held.extend(result := rule(*args))
        return result

    monkeypatch.setattr(pipeline_module, "held_for_group_order", counted)

    # and 30 profiles of 10 events each, sent in order in a FIFO queue, each profile its message group
    sqs = pipeline.sqs
    url, arn = _fifo_queue(sqs, f"ingest-{pipeline.stream_name}")
    per_profile: dict[str, list[str]] = {}
    invalid: list[str] = []
    for n in range(PROFILES):
        per_profile[f"profile-{n:02d}"], bad = _messages_of(f"profile-{n:02d}", rng)
        invalid += bad
    sent = _send_interleaved(sqs, url, per_profile, rng)

    # When Lambda's FIFO poller is played until the queue is empty: batches of ten, each invocation with a
    # deadline of 0.6 to 3 s, and in a third of them the rejects queue refusing every message
    invocations, returned, refused = 0, 0, 0
    while invocations < MAX_INVOCATIONS:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            break
        invocations += 1
        refusing = rng.random() < 0.33
        refused += refusing
        fault_proxy.denied = {"SendMessageBatch"} if refusing else set()
        event = sqs_lambda_event(messages, arn, REGION)
        answer = pipeline.handler(event, LambdaContext(timeout_seconds=rng.choice([0.4, 0.45, 1.0, 3.0])))
        assert fault_proxy.quiet(), "a call of the invocation never ended"
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        returned += len(failed)
        settle_messages(sqs, url, messages, failed)
    fault_proxy.denied = set()
    assert invocations < MAX_INVOCATIONS, "the queue never drained"

    # Then every event is on the stream, and each profile's records are in the order they were sent: a
    # consumer that keeps the first copy of each, or the last, sees 0, 1, ..., 9
    stream = read_stream(pipeline.kinesis, pipeline.stream_name)
    by_profile: dict[str, list[int]] = defaultdict(list)
    for record in stream:
        time = next(iter(record.json()["segmentMembership"]["ups"].values()))["lastQualificationTime"]
        by_profile[record.partition_key].append(int((datetime.fromisoformat(time) - START).total_seconds() // 60))
    expected = list(range(EVENTS_PER_PROFILE))
    out_of_order = []
    for profile in per_profile:
        first, last = _first_and_last(by_profile[profile])
        assert sorted(first) == expected, f"{profile}: events lost, on the stream {by_profile[profile]}"
        if first != expected or last != expected:
            out_of_order.append(f"{profile}: stream {by_profile[profile]}, first copies {first}, last copies {last}")
    assert not out_of_order, f"{len(out_of_order)} of {PROFILES} profiles out of order:\n" + "\n".join(out_of_order)
    # and every invalid element or body was parked, and nothing else
    parked = {message["Body"] for message in receive_all(sqs, pipeline.rejects_url)}
    assert parked == set(invalid)

    injected = Counter(type(f).__name__ for f in fault_proxy.injected)
    duplicates = len(stream) - PROFILES * EVENTS_PER_PROFILE
    print(
        f"\n{sent} messages ({PROFILES * EVENTS_PER_PROFILE} events, {len(invalid)} invalid), {invocations} "
        f"invocations ({refused} with the rejects queue refusing), {returned} messages returned, of which "
        f"{len(held)} held back behind a failed one of their group; faults {dict(injected)}; "
        f"{duplicates} duplicates, 0 lost, order kept"
    )
    # and the faults did what they are for: messages failed, and later ones of their groups were held back
    assert held and injected["EntryFaults"] and injected["DropAfterWrite"] and refused
