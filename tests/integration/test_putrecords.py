"""The writer's PutRecords through botocore's Kinesis client, against moto's server and the fault proxy.

The client is the one the function uses (`wiring.stream_writer`): its answers and errors
are botocore's, and each scenario checks what the writer makes of them.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from kinesis_export.config import DestinationConfig
from kinesis_export.deadline import Deadline
from kinesis_export.records import Record
from kinesis_export.wiring import stream_writer
from kinesis_export.writer import KinesisWriter, WriteResult
from kinesis_export_cli.local import LOCAL_CREDENTIALS
from tests.faultproxy import CallFault, Disconnect, DropAfterWrite, EntryFaults, FaultProxy, GarbledAnswer

REGION = "us-east-1"
ONE_RECORD = [Record("k", b"x")]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def local_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials and region of moto's server; no endpoint but the one a test gives."""
    for name, value in {**LOCAL_CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def kinesis(moto_endpoint: str) -> Any:
    return boto3.client("kinesis", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def stream(kinesis: Any) -> Iterator[str]:
    name = f"putrecords-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    yield name
    kinesis.delete_stream(StreamName=name)


@pytest.fixture
def writer_to(example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function's writer to a stream, its PutRecords sent to `endpoint` (moto's, or the proxy's)."""

    def make(endpoint: str, stream_name: str) -> KinesisWriter:
        monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", endpoint)
        config = example_config.model_copy(
            update={"stream": example_config.stream.model_copy(update={"name": stream_name, "region": REGION})}
        )
        return stream_writer(config, REGION, concurrency=2)

    return make


def on_stream(kinesis: Any, stream: str) -> list[tuple[str, bytes]]:
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return [
        (r["PartitionKey"], r["Data"]) for r in kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    ]


def write(writer: KinesisWriter, records: list[Record], seconds: float = 10.0) -> WriteResult:
    return writer.write(records, Deadline.after(seconds))


def test_records_reach_the_stream_byte_for_byte(writer_to: Any, moto_endpoint: str, kinesis: Any, stream: str) -> None:
    # given binary and UTF-8 data, and keys that JSON must escape
    data = [b"\x00\xff binary", "caf\u00e9 ünïcode".encode(), b'{"json": true}']
    keys = ["key-0", 'clé "1"', "back\\slash\n2"]

    # when
    result = write(writer_to(moto_endpoint, stream), [Record(k, d) for k, d in zip(keys, data, strict=True)])

    # then
    assert result.failed == {} and result.calls == 1
    assert on_stream(kinesis, stream) == list(zip(keys, data, strict=True))


def test_a_missing_stream_fails_its_records_with_the_service_code_without_retrying(
    writer_to: Any, moto_endpoint: str
) -> None:
    proxy = FaultProxy(moto_endpoint).start()
    try:
        result = write(writer_to(proxy.url, "no-such-stream"), ONE_RECORD)
    finally:
        proxy.stop()

    assert proxy.put_records_calls == 1 and result.retried == 0
    assert result.failed[0].startswith("ResourceNotFoundException: ")
    assert "no-such-stream" in result.failed[0]


def test_a_server_error_without_a_json_body_is_retried_by_its_status(
    writer_to: Any, moto_endpoint: str, kinesis: Any, stream: str
) -> None:
    proxy = FaultProxy(moto_endpoint, fault=lambda call, entries: CallFault(503, "") if call == 1 else None).start()
    try:
        writer = writer_to(proxy.url, stream)
        result = write(writer, ONE_RECORD)
        # and botocore's own error, as the writer saw it: the status, and no code (the answer's is empty)
        proxy.fault = lambda call, entries: CallFault(503, "")
        with pytest.raises(writer._client.exceptions.ClientError) as raised:
            writer._client.put_records(StreamName=stream, Records=[{"Data": b"x", "PartitionKey": "k"}])
    finally:
        proxy.stop()

    assert result.failed == {} and result.retried == 1
    assert on_stream(kinesis, stream) == [("k", b"x")]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert raised.value.response["Error"]["Code"] == ""  # so the writer retries it by its status alone


def test_requests_are_signed_with_the_destinations_credentials(writer_to: Any, moto_endpoint: str, stream: str) -> None:
    proxy = FaultProxy(moto_endpoint).start()
    try:
        write(writer_to(proxy.url, stream), ONE_RECORD)
    finally:
        proxy.stop()
    (action, signer, body) = proxy.requests[-1]
    assert (action, signer) == ("PutRecords", LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"])
    assert base64.b64decode(json.loads(body)["Records"][0]["Data"]) == b"x"


def test_without_credentials_nothing_is_sent_and_the_records_fail(
    writer_to: Any, moto_endpoint: str, stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in LOCAL_CREDENTIALS:
        monkeypatch.delenv(name)
    proxy = FaultProxy(moto_endpoint).start()
    try:
        result = write(writer_to(proxy.url, stream), ONE_RECORD)
    finally:
        proxy.stop()

    assert proxy.requests == []
    assert result.failed[0].startswith("NoCredentialsError")


def test_an_answer_cut_short_is_retried_never_counted_as_written(
    writer_to: Any, moto_endpoint: str, kinesis: Any, stream: str
) -> None:
    # given a proxy that garbles every answer (moto writes the records, the writer cannot read that it did)
    proxy = FaultProxy(moto_endpoint, fault=lambda call, entries: GarbledAnswer()).start()
    try:
        result = write(writer_to(proxy.url, stream), ONE_RECORD, seconds=1.0)
    finally:
        proxy.stop()

    # then the writer retried while it had time, and reports the record failed, not written
    assert proxy.put_records_calls > 1 and result.retried >= 1
    assert set(result.failed) == {0} and "PutRecords answered 0 entries for 1" in result.failed[0]


@pytest.mark.parametrize(
    "garbled",
    [
        GarbledAnswer(b'{"FailedRecordCount":0,"Rec\xff\xfe'),
        GarbledAnswer(b"\x1f\x8b\x08\x00garbage"),
        GarbledAnswer(b"\xff service unavailable", status=503),
        GarbledAnswer(b"null"),
        GarbledAnswer(b"[]"),
        GarbledAnswer(b'{"FailedRecordCount":0,"Records":[{}]}'),
        GarbledAnswer(b'{"FailedRecordCount":0,"Records":[null]}'),
    ],
    ids=["not-utf-8", "gzip-bytes", "503-not-utf-8", "null", "array", "entry-without-sequence-number", "null-entry"],
)
def test_an_answer_that_does_not_say_where_each_record_is_is_retried_never_counted_as_written(
    writer_to: Any, moto_endpoint: str, stream: str, garbled: GarbledAnswer
) -> None:
    # given a proxy whose first answer botocore cannot read, or that names no sequence number for the record
    # (found by an adversarial review: the first three failed the record for good, the sixth counted it written)
    proxy = FaultProxy(moto_endpoint, fault=lambda call, entries: garbled if call == 1 else None).start()
    try:
        result = write(writer_to(proxy.url, stream), ONE_RECORD, seconds=5.0)
    finally:
        proxy.stop()

    # then the writer sent it again, and counts it written only once Kinesis said where
    assert (proxy.put_records_calls, result.retried, result.failed) == (2, 1, {})


def test_an_answer_shorter_than_its_content_length_is_retried(writer_to: Any, stream: str) -> None:
    # given a server that answers 200 with half the body its Content-Length announces, then hangs up
    answer = b'{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"}]}'
    server = socket.create_server(("127.0.0.1", 0))
    requests = []

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                head, _, body = received.partition(b"\r\n\r\n")
                length = int(
                    next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")).split(
                        b":"
                    )[1]
                )
                while len(body) < length:
                    body += connection.recv(65536)
                requests.append(body)
                status = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
                connection.sendall(status + b"Content-Length: %d\r\n\r\n" % len(answer) + answer[: len(answer) // 2])

    threading.Thread(target=serve, daemon=True).start()
    try:
        host, port = server.getsockname()[:2]
        result = write(writer_to(f"http://{host}:{port}", stream), ONE_RECORD, seconds=1.0)
    finally:
        server.close()

    assert len(requests) > 1 and result.retried >= 1
    assert set(result.failed) == {0}


@pytest.mark.parametrize("fault", [Disconnect(), DropAfterWrite()], ids=["before-write", "after-write"])
def test_a_dropped_connection_is_retried_as_a_connection_error(
    writer_to: Any, moto_endpoint: str, kinesis: Any, stream: str, fault: Any
) -> None:
    proxy = FaultProxy(moto_endpoint, fault=lambda call, entries: fault if call == 1 else None).start()
    try:
        result = write(writer_to(proxy.url, stream), ONE_RECORD)
    finally:
        proxy.stop()

    assert result.failed == {} and result.retried == 1 and proxy.put_records_calls == 2
    assert ("k", b"x") in on_stream(kinesis, stream)  # twice after a drop after the write: at least once


def test_its_connections_set_tcp_nodelay_as_botocores_clients_do(writer_to: Any, moto_endpoint: str) -> None:
    # Without it, a request's body waits for the delayed ACK of its headers (40 ms a call on Linux).
    writer = writer_to(moto_endpoint, "any")

    options = writer._client._endpoint.http_session._socket_options

    assert (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) in options


def test_put_records_fires_botocores_event_hooks_for_every_call_the_writer_counts(
    writer_to: Any, moto_endpoint: str, kinesis: Any, stream: str
) -> None:
    # given the writer's client, with hooks where tracers (X-Ray, OpenTelemetry) hook in, and a first call
    # that fails two entries, so that the writer retries
    proxy = FaultProxy(
        moto_endpoint,
        fault=lambda call, entries: EntryFaults({0: "InternalFailure", 5: "InternalFailure"}) if call == 1 else None,
    ).start()
    seen: dict[str, int] = {"before-call": 0, "after-call": 0}
    try:
        writer = writer_to(proxy.url, stream)
        for event in seen:
            writer._client.meta.events.register(
                f"{event}.kinesis.PutRecords", lambda event=event, **_: seen.__setitem__(event, seen[event] + 1)
            )

        # when it writes three calls' worth of records
        result = write(writer, [Record(f"key-{n}", b"x") for n in range(1200)])
    finally:
        proxy.stop()

    # then every call it counted went through botocore's hooks
    assert result.failed == {} and result.retried == 2
    assert result.calls == proxy.put_records_calls == 4
    assert seen == {"before-call": 4, "after-call": 4}


XRAY_PROBE = """
import json, sys
from aws_lambda_powertools import Tracer
from aws_xray_sdk.core import xray_recorder

sent = []

class Collected:
    def send_entity(self, entity):
        sent.append(entity)

    def set_daemon_address(self, address):
        pass

tracer = Tracer(service="probe", patch_modules=["botocore"])
xray_recorder.configure(emitter=Collected(), streaming_threshold=0)

from kinesis_export.config import load_config
from kinesis_export.wiring import stream_writer
from kinesis_export.deadline import Deadline
from kinesis_export.records import Record

config = load_config(sys.argv[1])
config = config.model_copy(update={"stream": config.stream.model_copy(update={"name": sys.argv[2]})})
writer = stream_writer(config, "us-east-1", concurrency=2)
result = writer.write([Record(f"key-{n}", b"x") for n in range(1200)], Deadline.after(10))
print(json.dumps({
    "calls": result.calls,
    "failed": len(result.failed),
    "subsegments": [
        [entity.name, entity.namespace, entity.aws.get("operation")]
        for entity in sent
        if getattr(entity, "type", "") == "subsegment"
    ],
}))
"""


def test_put_records_is_an_x_ray_subsegment_under_powertools_tracer(
    moto_endpoint: str, stream: str, tmp_path: Path
) -> None:
    # given the function as Lambda runs it with active tracing: a trace header in its environment
    lambda_environment = {
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_ENDPOINT_URL_KINESIS": moto_endpoint,
        "AWS_XRAY_CONTEXT_MISSING": "RUNTIME_ERROR",
        "PYTHONPATH": f"{ROOT / 'lambdas'}",
    }

    # when a Tracer patches botocore and the writer writes three calls' worth of records
    out = subprocess.run(
        [sys.executable, "-c", XRAY_PROBE, str(ROOT / "destinations" / "example.json"), stream],
        env={**os.environ, **lambda_environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    # then each call is a subsegment of its own, named for the service and operation
    traced = json.loads(out.stdout.strip().splitlines()[-1])
    assert traced["failed"] == 0 and traced["calls"] == 3
    assert traced["subsegments"] == [["kinesis", "aws", "PutRecords"]] * 3
