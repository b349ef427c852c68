"""Profile state through a FIFO ingest queue, under Kinesis and DynamoDB faults, over many invocations.

moto's SQS FIFO queue delivers each group in order (tests/integration/test_fifo_order.py pins how). The
groups are pairs of profiles, as a producer may group (more order than needed): so a profile whose state
failed holds back the other profile's later messages of its group. PutRecords entries fail or lose their
answers, and in some invocations the profile state table refuses its reads, or one profile's writes
(access denied, through the fault proxy). Each record carries the profile's state after its event, and the
state only ever grows newer: so each profile's records on the stream must carry non-decreasing versions of
its attribute, and its last record the newest state.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from kinesis_export import pipeline as pipeline_module
from kinesis_export_cli.local import (
    LambdaContext,
    message_group_id,
    profile_plan,
    read_stream,
    settle_messages,
    sqs_lambda_event,
)
from tests.faultproxy import DropAfterWrite, EntryFaults, Fault
from tests.integration.conftest import REGION
from tests.integration.profile_table import items, stateful_pipeline
from tests.support import HIGH_PROPENSITY, WHITE_PAPER

PROFILES = 16
EVENTS_PER_PROFILE = 10
START = datetime(2020, 5, 25, tzinfo=UTC)
MAX_INVOCATIONS = 300


def _at(sequence: int) -> str:
    return (START + timedelta(minutes=sequence)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(profile: str, sequence: int) -> dict[str, Any]:
    """Change `sequence` of a profile: its last name becomes v<sequence>; the first enters a segment, the fifth
    another, the others carry the attribute only (contract v2)."""
    event: dict[str, Any] = {
        "eventId": f"{profile}-e{sequence}",
        "timestamp": _at(sequence),
        "identityMap": {"ECID": [{"id": profile, "primary": True}]},
        "attributes": {"person": {"name": {"lastName": f"v{sequence}"}}},
    }
    segment = {0: HIGH_PROPENSITY, 4: WHITE_PAPER}.get(sequence)
    if segment:
        event["segmentMembership"] = {"ups": {segment: {"status": "realized", "lastQualificationTime": _at(sequence)}}}
    return event


def _bodies_of(profile: str, rng: random.Random) -> list[str]:
    """A profile's changes as message bodies, in order: one event, or two in an array."""
    bodies: list[str] = []
    sequence = 0
    while sequence < EVENTS_PER_PROFILE:
        if rng.random() < 0.3 and sequence + 1 < EVENTS_PER_PROFILE:
            bodies.append(json.dumps([_event(profile, sequence), _event(profile, sequence + 1)]))
            sequence += 2
        else:
            bodies.append(json.dumps(_event(profile, sequence)))
            sequence += 1
    return bodies


def _profile_of(message: dict[str, Any]) -> str:
    body = json.loads(message["Body"])
    profile: str = (body[0] if isinstance(body, list) else body)["identityMap"]["ECID"][0]["id"]
    return profile


def _ahead_of_its_pair(messages: list[dict[str, Any]]) -> str:
    """The profile of the batch's first message followed, in the batch, by one of the other profile of its
    group; else the first message's profile."""
    for position, message in enumerate(messages):
        group, profile = message["Attributes"]["MessageGroupId"], _profile_of(message)
        if any(
            later["Attributes"]["MessageGroupId"] == group and _profile_of(later) != profile
            for later in messages[position + 1 :]
        ):
            return profile
    return _profile_of(messages[0])


def test_through_a_fifo_queue_each_profile_s_records_carry_ever_newer_state_and_the_last_the_newest(
    start_pipeline, fault_proxy, monkeypatch
):
    # Given a function with profileState and ingest.fifo, its DynamoDB traffic through the fault proxy too
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "300")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", fault_proxy.url)
    rng, fault_rng = random.Random(1818), random.Random(8181)
    faults = threading.Lock()

    def fault(call: int, entries: list[dict[str, Any]]) -> Fault:
        # Per PutRecords call: 5% write and then lose the answer, else 15% of the entries fail.
        with faults:
            if fault_rng.random() < 0.05:
                return DropAfterWrite()
            return EntryFaults(
                {p: "ProvisionedThroughputExceededException" for p in range(len(entries)) if fault_rng.random() < 0.15}
            )

    fault_proxy.fault = fault
    pipeline, table = stateful_pipeline(start_pipeline, monkeypatch, shards=4, ingest={"fifo": True})
    pipeline.function.writer.base_delay, pipeline.function.writer.max_delay = 0.002, 0.02
    held: list[str] = []
    rule = pipeline_module.held_for_group_order

    def counted(*args: Any) -> list[str]:
        held.extend(result := rule(*args))
        return result

    monkeypatch.setattr(pipeline_module, "held_for_group_order", counted)

    # and each profile's changes sent in order to a FIFO queue, profiles interleaved, each message in the group
    # of its profile's pair (the local tools would name its profile: the SHA-256 of its records' partition key)
    sqs = pipeline.sqs
    url = sqs.create_queue(
        QueueName=f"ingest-{pipeline.stream_name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    plan = profile_plan(pipeline.function.config)
    queues = {f"profile-{n}": _bodies_of(f"profile-{n}", rng) for n in range(PROFILES)}
    while any(queues.values()):
        profile = rng.choice([p for p, left in queues.items() if left])
        body = queues[profile].pop(0)
        assert message_group_id(body, plan) == hashlib.sha256(profile.encode()).hexdigest()
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=f"pair-{int(profile[8:]) // 2}")

    # When Lambda's FIFO poller is played until the queue is empty, the table refusing one profile's writes in
    # 40% of the invocations (a profile with a later message of its pair in the batch, when there is one) and
    # every read in a tenth
    invocations, store_refused = 0, 0
    refused_profile: list[str] = []
    key_prefix = f'"{pipeline.function.config.name}#'.encode()
    fault_proxy.denied_when = lambda action, body: (
        action == "PutItem" and any(key_prefix + profile.encode() + b'"' in body for profile in refused_profile)
    )
    while invocations < MAX_INVOCATIONS:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            break
        invocations += 1
        draw = rng.random()
        refused_profile[:] = [_ahead_of_its_pair(messages)] if draw < 0.4 else []
        fault_proxy.denied = {"BatchGetItem"} if 0.4 <= draw < 0.5 else set()
        store_refused += draw < 0.5
        event = sqs_lambda_event(messages, arn, REGION)
        answer = pipeline.handler(event, LambdaContext(timeout_seconds=rng.choice([1.0, 3.0])))
        assert fault_proxy.quiet(), "a call of the invocation never ended"
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        settle_messages(sqs, url, messages, failed)
    fault_proxy.denied = set()
    assert invocations < MAX_INVOCATIONS, "the queue never drained"

    # Then each profile's records carry non-decreasing versions of its last name (no record of an older state
    # after a newer one), and its last record the newest state: both segments, the last change
    newest = f"v{EVENTS_PER_PROFILE - 1}"
    by_profile: dict[str, list[dict[str, Any]]] = {profile: [] for profile in queues}
    for record in read_stream(pipeline.kinesis, pipeline.stream_name):
        by_profile[record.partition_key].append(record.json())
    for profile, records in by_profile.items():
        versions = [int(r["person"]["name"]["lastName"][1:]) for r in records]
        assert len(records) >= EVENTS_PER_PROFILE, f"{profile}: events lost, versions {versions}"
        assert versions == sorted(versions), f"{profile}: an older state after a newer one: {versions}"
        last = records[-1]
        assert last["person"]["name"]["lastName"] == newest
        assert list(last["segmentMembership"]["ups"]) == [HIGH_PROPENSITY, WHITE_PAPER]
    # and the table holds each profile's newest state
    stored = items(table)
    for profile in queues:
        state = json.loads(bytes(stored[f"{pipeline.function.config.name}#{profile}"]["state"]["B"]))
        assert state["attributes"]["person.name.lastName"][0] == newest
    written = sum(map(len, by_profile.values()))
    print(
        f"\n{PROFILES * EVENTS_PER_PROFILE} events, {invocations} invocations ({store_refused} with the table "
        f"refusing), {len(held)} messages held behind a failed one of their group; {written} records"
    )
    # and the faults did what they are for: the table refused, messages were held behind failed ones
    assert store_refused and held
