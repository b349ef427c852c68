"""Idempotency and continuations: a continued event must not find its own claim still in progress.

An element whose write failed is claimed (INPROGRESS) in the idempotency table, and its claim is released
(DeleteItem) after the write. A continuation is a new message, visible at once: had it been sent while the
claim was still held, the next invocation would take the element for a duplicate of itself, acknowledge
it, and never write it. (Found by an adversarial review, which lost event b this way.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import boto3

from kinesis_export_cli.local import poll_once, read_stream
from tests.faultproxy import EntryFaults
from tests.integration.conftest import REGION
from tests.support import profile_event


def test_a_message_whose_failed_claim_cannot_be_released_is_redelivered_whole_not_continued(
    start_pipeline, fault_proxy, monkeypatch, moto_endpoint
):
    # Given idempotency on, with the function's DynamoDB traffic through the fault proxy, and DeleteItem
    # failing (throttled, or denied: any error makes `forget` return False, counted in idempotency_errors)
    table_name = f"idempotency-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", table_name)
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "500")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", fault_proxy.url)
    pipeline = start_pipeline(idempotency={"ttlSeconds": 600})
    boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint).create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    fault_proxy.denied.add("DeleteItem")
    # and the first PutRecords call refusing profile b's record (the array's second element)
    fault_proxy.fault = lambda call, entries: (
        EntryFaults({p: "InvalidArgumentException" for p, e in enumerate(entries) if e["PartitionKey"] == "b"})
        if call == 1
        else None
    )
    array = json.dumps([profile_event(key, event_id=f"evt-{key}") for key in ("a", "b", "c")])
    pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=array)

    # When Lambda's poller delivers the message (to an invocation of 3 s)
    first = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=3)

    # Then it is not continued (the continuation, visible at once, would find b's claim still in progress
    # and take b for a duplicate): it is reported failed, to come back whole after its visibility timeout
    delivered, failed = first
    assert (delivered, len(failed)) == (1, 1)
    time.sleep(3)  # the visibility timeout outlasts the invocation, and with it b's claim
    second = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, timeout_seconds=3)
    assert second == (1, [])
    written = Counter(r.partition_key for r in read_stream(pipeline.kinesis, pipeline.stream_name))
    assert written == Counter({"a": 1, "b": 1, "c": 1})
