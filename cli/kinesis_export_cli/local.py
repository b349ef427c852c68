"""Running the exporter on a laptop: moto's server as AWS, and Lambda's SQS poller played by hand.

Used by `kinesis-export demo` and by the integration tests. moto is a development
dependency: it is imported only when a local server is started, never by the function. Its
server is extended three times: Kinesis writes are serialized, streams take records as large as
their MaxRecordSizeInKiB, as AWS's do (moto knows 1 MiB records and 5 MiB calls only), and
DynamoDB's PutItem checks its condition and writes as one step, as DynamoDB's does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kinesis_export.config import DestinationConfig
    from kinesis_export.profiles import ProfilePlan
    from kinesis_export.records import RecordPlan

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
    take_large_records()
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


# Kinesis's record limits, as AWS documents them since records of up to 10 MiB came
# (https://docs.aws.amazon.com/streams/latest/dev/large-records.html,
# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html): a stream's own maximum
# record (data plus partition key) of 1024 to 10240 KiB, 1024 unless set; 10 MiB and 500 records per call.
DEFAULT_RECORD_SIZE_KIB = 1024
MAX_RECORD_SIZE_KIB = 10240
MAX_BYTES_PER_CALL = 10 * 1024 * 1024


def take_large_records() -> None:
    """Streams with a maximum record size of their own, as AWS's since records of up to 10 MiB came.

    moto knows nothing of MaxRecordSizeInKiB, takes 1 MiB records and 5 MiB calls, and lets
    PutRecord write a record of any size. Here CreateStream (and an AWS::Kinesis::Stream of
    CloudFormation) takes MaxRecordSizeInKiB, DescribeStreamSummary answers it, UpdateMaxRecordSize
    changes it, and PutRecord and PutRecords refuse a record over it as AWS does (ValidationException,
    the whole call), and a PutRecords call over 10 MiB (InvalidArgumentException). Pinned by
    tests/integration/test_local_kinesis.py.
    """
    from base64 import b64decode

    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import EmptyResult
    from moto.kinesis.exceptions import TooManyRecords
    from moto.kinesis.models import KinesisBackend, Stream
    from moto.kinesis.responses import KinesisResponse

    if getattr(Stream, "max_record_size_kib", None) is not None:
        return

    def valid_size(value: Any, field: str) -> int:
        if not isinstance(value, int) or not DEFAULT_RECORD_SIZE_KIB <= value <= MAX_RECORD_SIZE_KIB:
            raise JsonRESTError(
                "ValidationException",
                f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member "
                f"must have value between {DEFAULT_RECORD_SIZE_KIB} and {MAX_RECORD_SIZE_KIB}",
            )
        return value

    def check_record(stream: Any, position: str, data: str, partition_key: str) -> int:
        """The record's size (data plus key); ValidationException when over the stream's maximum."""
        size = len(b64decode(data)) + len(partition_key.encode("utf-8"))
        limit = stream.max_record_size_kib * 1024
        if size > limit:
            # AWS's words for a record over the stream's maximum (a 1 MiB stream's shown: 1048576).
            raise JsonRESTError(
                "ValidationException",
                f"1 validation error detected: Value at '{position}' failed to satisfy constraint: Member must have "
                f"length less than or equal to {limit}",
            )
        return size

    Stream.max_record_size_kib = DEFAULT_RECORD_SIZE_KIB  # type: ignore[attr-defined]  # every stream's, until set

    create_stream = KinesisResponse.create_stream

    def create_stream_sized(self: Any) -> Any:
        size = self._get_param("MaxRecordSizeInKiB")
        size = None if size is None else valid_size(size, "maxRecordSizeInKiB")
        answer = create_stream(self)
        if size is not None:
            self.kinesis_backend.describe_stream(None, self._get_param("StreamName")).max_record_size_kib = size
        return answer

    def update_max_record_size(self: Any) -> Any:
        size = valid_size(self._get_param("MaxRecordSizeInKiB"), "maxRecordSizeInKiB")
        self.kinesis_backend.describe_stream(self._get_param("StreamARN"), None).max_record_size_kib = size
        return EmptyResult()

    KinesisResponse.create_stream = create_stream_sized  # type: ignore[method-assign]
    KinesisResponse.update_max_record_size = update_max_record_size  # type: ignore[attr-defined]

    summary = Stream.to_json_summary

    def summary_sized(self: Any) -> dict[str, Any]:
        answer = summary(self)
        answer["StreamDescriptionSummary"]["MaxRecordSizeInKiB"] = self.max_record_size_kib
        return answer

    Stream.to_json_summary = summary_sized  # type: ignore[method-assign]

    # CloudFormation: the property is taken at creation and at an update (which needs no replacement).
    create_from_template = Stream.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    update_from_template = Stream.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def sized_from(properties: dict[str, Any]) -> int:
        return valid_size(int(properties.get("MaxRecordSizeInKiB", DEFAULT_RECORD_SIZE_KIB)), "MaxRecordSizeInKiB")

    def create_from(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *rest: Any, **kw: Any) -> Any:
        size = sized_from(cloudformation_json.get("Properties", {}))
        stream = create_from_template(cls, resource_name, cloudformation_json, *rest, **kw)
        stream.max_record_size_kib = size
        return stream

    def update_from(cls: Any, /, original_resource: Any, cloudformation_json: dict[str, Any], **kwargs: Any) -> Any:
        size = sized_from(cloudformation_json.get("Properties", {}))
        stream = update_from_template(
            cls, original_resource=original_resource, cloudformation_json=cloudformation_json, **kwargs
        )
        stream.max_record_size_kib = size
        return stream

    Stream.create_from_cloudformation_json = classmethod(create_from)  # type: ignore[method-assign,assignment]
    Stream.update_from_cloudformation_json = classmethod(update_from)  # type: ignore[method-assign,assignment]

    put_record = KinesisBackend.put_record

    def put_record_sized(
        self: Any, stream_arn: str, stream_name: str, partition_key: str, explicit_hash_key: str, data: str
    ) -> Any:
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        check_record(stream, "data", data, partition_key)
        return put_record(self, stream_arn, stream_name, partition_key, explicit_hash_key, data)

    def put_records_sized(self: Any, stream_arn: str, stream_name: str, records: list[dict[str, Any]]) -> Any:
        # moto's own, with the stream's maximum record and the 10 MiB call in place of 1 MiB and 5 MiB.
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if len(records) > 500:
            raise TooManyRecords
        sizes = [
            check_record(stream, f"records.{n}.member.data", r.get("Data", ""), r.get("PartitionKey", ""))
            for n, r in enumerate(records, start=1)
        ]
        if sum(sizes) > MAX_BYTES_PER_CALL:
            raise JsonRESTError("InvalidArgumentException", "Records size exceeds 10 MB limit")
        answer: dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
        for record in records:
            sequence_number, shard_id = stream.put_record(
                record.get("PartitionKey"), record.get("ExplicitHashKey"), record.get("Data")
            )
            answer["Records"].append({"SequenceNumber": sequence_number, "ShardId": shard_id})
        self._send_stream_metrics(stream.stream_name, incoming_bytes=sum(sizes), incoming_records=len(records))
        return answer

    KinesisBackend.put_record = put_record_sized  # type: ignore[method-assign]
    KinesisBackend.put_records = put_records_sized  # type: ignore[method-assign]


def profile_plan(config: DestinationConfig) -> RecordPlan | ProfilePlan:
    """The destination's plan, keyed by profile whatever its partitionKey: for message groups. With
    profileState, its profile plan, which reads contract v2 (an event of attributes or identities only
    is its profile's too, and must keep its place among the profile's messages)."""
    from kinesis_export.profiles import ProfilePlan
    from kinesis_export.records import RecordPlan

    if config.profile_state is not None:
        return ProfilePlan(config)
    return RecordPlan(config.model_copy(update={"partition_key": "primaryIdentity"}))


def message_group_id(body: str, plan: RecordPlan | ProfilePlan) -> str:
    """The MessageGroupId a producer gives a message sent to a FIFO ingest queue: its profile, as the SHA-256
    (hex) of the record's partition key (the primary identity's exported id, else the first identity's;
    `plan` from `profile_plan`), so that one profile's messages are one group and keep their order.

    Hashed always: SQS shows group ids to whoever reads the queue and in its metrics, and an identity
    exported without a transform (an e-mail address) is personal data. A message of many events takes
    its first event's profile. One whose events make no record (invalid, filtered) is a group of its
    own: it holds back no profile. With profileState, an event is its profile's whatever it carries (a
    filtered one still changes the state), keyed as its records are.
    """
    from kinesis_export.pipeline import prepare_messages

    prepared = prepare_messages([("message", body)], plan)
    if prepared.records:
        key = prepared.records[0].partition_key
    else:
        key = prepared.pending[0][1].key if prepared.pending else body
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class SendFailed(RuntimeError):
    """The ingest queue refused a message: str() names SQS's error code and message."""


def send_messages(sqs: Any, queue_url: str, bodies: list[str], group_of: Callable[[str], str] | None = None) -> None:
    """Send the bodies in order, ten a call; with `group_of` (a FIFO queue), each with its MessageGroupId."""
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(n), "MessageBody": body, **({"MessageGroupId": group_of(body)} if group_of else {})}
            for n, body in enumerate(bodies[start : start + 10])
        ]
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if answer.get("Failed"):
            failed = answer["Failed"][0]
            raise SendFailed(f"the ingest queue refused a message: {failed['Code']}: {failed.get('Message', '')}")


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
    those are made visible again at once, as SQS would after their visibility timeout. From a
    FIFO queue moto's SQS delivers as SQS does: each group in order, and none of a group while
    one of its messages is in flight.
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
    settle_messages(sqs, queue_url, messages, failed)
    return len(messages), failed


def settle_messages(sqs: Any, queue_url: str, messages: list[dict[str, Any]], failed: Collection[str]) -> None:
    """What Lambda's poller does after an invocation: the messages the answer left out are deleted, the failed
    ones made visible again at once (as SQS would after their visibility timeout)."""
    for message in messages:
        if message["MessageId"] in failed:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


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
