"""Running the exporter on a laptop: moto's server as AWS, and Lambda's SQS poller played by hand.

Used by `kinesis-export demo` and by the integration tests. moto is a development
dependency: it is imported only when a local server is started, never by the function.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Credentials moto accepts; they never leave this machine.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def local_client(service: str, endpoint: str, region: str, credentials: dict[str, str] | None = None) -> Any:
    """A boto3 client for moto's server at `endpoint`, signed with `credentials` (the local ones by default)."""
    import boto3

    credentials = credentials or LOCAL_CREDENTIALS
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
    )


class MotoMissing(RuntimeError):
    """The local runs need moto's server, an optional dependency (the `demo` extra)."""


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's server on a free loopback port; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise MotoMissing("moto's server is not installed: pip install 'kinesis-segment-export[demo]'") from None

    serialize_kinesis_writes()
    serialize_conditional_writes()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


_KINESIS_WRITES = threading.Lock()


def serialize_kinesis_writes() -> None:
    """One record at a time into moto's shards, which are not thread-safe.

    Its server takes concurrent PutRecords calls on threads, and a shard numbers a record from
    its last one: two records written at once can get one sequence number, and one is lost (35
    of 10,000 in one run). A lock around its write makes a loss the tests see the exporter's.
    """
    from moto.kinesis.models import Shard

    put_record = Shard.put_record
    if getattr(put_record, "serialized", False):
        return

    def serialized(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _KINESIS_WRITES:
            return put_record(self, *args, **kwargs)

    serialized.serialized = True  # type: ignore[attr-defined]
    Shard.put_record = serialized  # type: ignore[method-assign]


_DYNAMODB_WRITES = threading.Lock()


def serialize_conditional_writes() -> None:
    """DynamoDB's PutItem checks its condition and writes as one step, as DynamoDB does.

    moto's server takes concurrent requests on threads, and its PutItem reads the item, checks the
    condition, then stores the new one: two writes conditional on one version can both pass between
    the two steps, and one is lost (8 threads, each reading a version and writing on it: 18 of 729
    successful writes lost with the interpreter switching threads every microsecond, none with this
    lock). A lock around it makes a lost update the tests see the exporter's
    (tests/integration/test_profile_concurrency.py).
    """
    from moto.dynamodb.models.table import Table

    put_item = Table.put_item
    if getattr(put_item, "serialized", False):
        return

    def serialized(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _DYNAMODB_WRITES:
            return put_item(self, *args, **kwargs)

    serialized.serialized = True  # type: ignore[attr-defined]
    Table.put_item = serialized  # type: ignore[method-assign]


@dataclass
class LambdaContext:
    """What Lambda passes as the context, with a real clock behind the remaining time."""

    function_name: str = "kinesis-export-local"
    timeout_seconds: float = 60.0
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/kinesis-export-local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller builds from received messages."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {
                    name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": hashlib.md5(message["Body"].encode("utf-8")).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's SQS event writes it (stringValue, ...), not as ReceiveMessage answers."""
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value["DataType"],
    }


def poll_once(
    sqs: Any,
    queue_url: str,
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    *,
    batch_size: int = 500,
    timeout_seconds: float = 60.0,
) -> tuple[int, list[str]]:
    """Play Lambda's poller once: gather a batch, invoke, delete what the handler acknowledged.

    Returns how many messages were delivered and the ids the handler reported as failed;
    those are made visible again at once, as SQS would after their visibility timeout.
    """
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages: list[dict[str, Any]] = []
    while len(messages) < batch_size:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, batch_size - len(messages)),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=int(timeout_seconds * 6),
        ).get("Messages", [])
        if not received:
            break
        messages.extend(received)
    if not messages:
        return 0, []
    event = sqs_lambda_event(messages, queue_arn, sqs.meta.region_name)
    answer = handler(event, LambdaContext(timeout_seconds=timeout_seconds))
    failed = [item["itemIdentifier"] for item in answer.get("batchItemFailures", [])]
    for message in messages:
        if message["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages), failed


@dataclass(frozen=True)
class StreamRecord:
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes

    def json(self) -> Any:
        return json.loads(self.data)


def read_stream(kinesis: Any, stream_name: str) -> list[StreamRecord]:
    """Every record on the stream, shard by shard, each shard in sequence order."""
    records: list[StreamRecord] = []
    for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend(
                StreamRecord(shard["ShardId"], r["SequenceNumber"], r["PartitionKey"], r["Data"])
                for r in page["Records"]
            )
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def print_records(records: list[StreamRecord]) -> None:
    """Each record as the local runs show it: its shard and partition key, then its JSON."""
    for record in records:
        print(f"{record.shard_id}  partition key {record.partition_key}")
        print(json.dumps(record.json(), indent=2, ensure_ascii=False), end="\n\n")


def print_rejects(messages: list[dict[str, Any]]) -> None:
    """Each message of a rejects queue, by its errorCode and errorReason attributes."""
    for message in messages:
        attributes = message["MessageAttributes"]
        print(f"rejected ({attributes['errorCode']['StringValue']}): {attributes['errorReason']['StringValue']}")


def receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Drain a queue (the rejects queue, in the demo and tests), with message attributes."""
    messages: list[dict[str, Any]] = []
    while True:
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not page.get("Messages"):
            return messages
        messages.extend(page["Messages"])
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(page["Messages"])],
        )
