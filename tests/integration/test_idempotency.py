"""Idempotency on eventId against moto's DynamoDB: a redelivered event is written once, a failed one again."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest

from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import export_batch
from kinesis_export_cli.local import poll_once, read_stream
from tests.faultproxy import EntryFaults
from tests.integration.conftest import REGION
from tests.support import body, profile_event


@pytest.fixture
def idempotent_pipeline(start_pipeline, monkeypatch):
    """A pipeline with idempotency on, and its table on moto (the key schema the stack creates)."""

    def start(**config_changes: Any):
        table_name = f"idempotency-{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", table_name)
        pipeline = start_pipeline(idempotency={"ttlSeconds": 600}, **config_changes)
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return pipeline

    return start


def events(count: int) -> list[str]:
    """One event per profile, so that a failed record holds back no other."""
    return [body(profile_event(f"profile-{n}", event_id=f"evt-{n}")) for n in range(count)]


def event_ids_on(pipeline) -> Counter[str]:
    """How many times each profile's record is on the stream."""
    return Counter(
        record.json()["identityMap"]["ecid"][0]["id"] for record in read_stream(pipeline.kinesis, pipeline.stream_name)
    )


def export(pipeline, bodies: list[str]):
    """One batch through the cold-started function's own pipeline, with new message ids."""
    function = pipeline.function
    messages = [(str(uuid.uuid4()), b) for b in bodies]
    return export_batch(messages, function.plan, function.writer, function.rejects, Deadline.after(30), function.ledger)


def test_redelivered_events_are_acknowledged_as_duplicates_and_not_written_again(idempotent_pipeline):
    # given a batch already exported
    pipeline = idempotent_pipeline()
    bodies = events(30)
    first = export(pipeline, bodies)
    assert (first.exported, first.duplicates, first.failed) == (30, 0, 0)

    # when the same events come again, in new messages (and one new event among them)
    second = export(pipeline, [*bodies, body(profile_event("profile-new", event_id="evt-new"))])

    # then only the new one is written, the others are acknowledged as duplicates
    assert (second.exported, second.duplicates, second.failed) == (1, 30, 0)
    assert set(event_ids_on(pipeline).values()) == {1}
    assert len(event_ids_on(pipeline)) == 31


def test_an_event_whose_write_failed_is_written_when_redelivered(idempotent_pipeline, fault_proxy):
    # given the first PutRecords call refuses the batch's first entry
    pipeline = idempotent_pipeline()
    fault_proxy.fault = lambda call, entries: EntryFaults({0: "AccessDeniedException"}) if call == 1 else None
    bodies = events(5)
    for b in bodies:
        pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=b)

    # when Lambda's poller delivers the batch, then the failed message again
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)
    assert (delivered, len(failed)) == (5, 1)
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    # then the retry wrote it (its idempotency item had been deleted), and every event is on the stream once
    assert (delivered, failed) == (1, [])
    assert event_ids_on(pipeline) == Counter({f"profile-{n}": 1 for n in range(5)})


def test_a_written_event_is_remembered_for_the_configured_ttl_under_the_destination_name(idempotent_pipeline):
    pipeline = idempotent_pipeline()
    written_at = time.time()
    export(pipeline, events(1))

    table = pipeline.function.settings.idempotency_table_name
    [item] = boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"]

    assert item["status"] == {"S": "COMPLETED"}
    assert item["id"]["S"].startswith(f"{pipeline.function.config.name}#")
    assert 0 <= int(item["expiration"]["N"]) - (int(written_at) + 600) <= 5


def test_a_redelivered_array_writes_only_its_elements_not_yet_written(idempotent_pipeline, fault_proxy, monkeypatch):
    # given an array message whose second element's record is refused by the first PutRecords call, and
    # no way to send its rest back as a message of its own (so it is redelivered whole)
    pipeline = idempotent_pipeline()
    monkeypatch.setattr(pipeline.function, "ingest", None)
    fault_proxy.fault = lambda call, entries: EntryFaults({1: "AccessDeniedException"}) if call == 1 else None
    array = json.dumps([profile_event(f"profile-{n}", event_id=f"evt-{n}") for n in range(3)])
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=array)

    # when Lambda's poller delivers it, then again as the message was reported failed
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)
    assert (delivered, len(failed)) == (1, 1)
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler)

    # then the redelivery wrote only the failed element: its neighbours' eventIds were remembered
    assert (delivered, failed) == (1, [])
    assert event_ids_on(pipeline) == Counter({f"profile-{n}": 1 for n in range(3)})
