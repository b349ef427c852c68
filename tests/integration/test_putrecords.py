"""PutRecordsClient against boto3's own client: the same answers and errors, through moto's server."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError

from kinesis_export.putrecords import PutRecordsClient
from kinesis_export.records import Record
from kinesis_export_cli.local import LOCAL_CREDENTIALS
from tests.faultproxy import CallFault, FaultProxy, GarbledAnswer

REGION = "us-east-1"
ONE_RECORD = [Record("k", b"x")]


def sender_for(endpoint: str, credentials: Any = "session") -> PutRecordsClient:
    session = boto3.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    return PutRecordsClient(
        endpoint,
        REGION,
        session.get_credentials() if credentials == "session" else credentials,
        connect_timeout=2,
        read_timeout=3,
        connections=4,
    )


@pytest.fixture
def kinesis(moto_endpoint: str) -> Any:
    return boto3.client(
        "kinesis",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def stream(kinesis: Any) -> Iterator[str]:
    name = f"putrecords-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    yield name
    kinesis.delete_stream(StreamName=name)


def test_records_reach_the_stream_byte_for_byte_with_boto3s_answer_shape(
    moto_endpoint: str, kinesis: Any, stream: str
) -> None:
    # given binary and UTF-8 data, and keys that JSON must escape
    data = [b"\x00\xff binary", "caf\u00e9 ünïcode".encode(), b'{"json": true}']
    keys = ["key-0", 'clé "1"', "back\\slash\n2"]

    # when
    answer = sender_for(moto_endpoint).put_records(stream, [Record(k, d) for k, d in zip(keys, data, strict=True)])

    # then
    assert answer["FailedRecordCount"] == 0
    assert [set(entry) for entry in answer["Records"]] == [{"SequenceNumber", "ShardId"}] * 3
    shard = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [(r["PartitionKey"], r["Data"]) for r in records] == [
        (keys[0], data[0]),
        (keys[1], data[1]),
        (keys[2], data[2]),
    ]


def test_a_missing_stream_raises_the_same_client_error_as_boto3(moto_endpoint: str, kinesis: Any) -> None:
    with pytest.raises(ClientError) as expected:
        kinesis.put_records(StreamName="no-such-stream", Records=[{"Data": b"x", "PartitionKey": "k"}])

    with pytest.raises(ClientError) as raised:
        sender_for(moto_endpoint).put_records("no-such-stream", ONE_RECORD)

    assert raised.value.response["Error"]["Code"] == expected.value.response["Error"]["Code"]
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "no-such-stream" in raised.value.response["Error"]["Message"]


def test_a_server_error_without_a_json_body_is_a_client_error_with_its_status(moto_endpoint: str, stream: str) -> None:
    proxy = FaultProxy(moto_endpoint, fault=lambda call, entries: CallFault(503, "")).start()
    try:
        with pytest.raises(ClientError) as raised:
            sender_for(proxy.url).put_records(stream, ONE_RECORD)
    finally:
        proxy.stop()
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert raised.value.response["Error"]["Code"] == "503"  # no code in the answer: its status stands in


def test_requests_are_signed_with_the_given_credentials(moto_endpoint: str, stream: str) -> None:
    proxy = FaultProxy(moto_endpoint).start()
    try:
        sender_for(proxy.url).put_records(stream, ONE_RECORD)
    finally:
        proxy.stop()
    (action, signer, body) = proxy.requests[-1]
    assert (action, signer) == ("PutRecords", LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"])
    assert base64.b64decode(json.loads(body)["Records"][0]["Data"]) == b"x"


def test_without_credentials_nothing_is_sent(moto_endpoint: str, stream: str) -> None:
    with pytest.raises(NoCredentialsError):
        sender_for(moto_endpoint, credentials=None).put_records(stream, ONE_RECORD)


def test_an_answer_cut_short_is_a_transport_error_the_writer_retries(moto_endpoint: str, stream: str) -> None:
    proxy = FaultProxy(moto_endpoint, fault=lambda call, entries: GarbledAnswer()).start()
    try:
        with pytest.raises(HTTPClientError, match="PutRecords answer is not JSON"):
            sender_for(proxy.url).put_records(stream, ONE_RECORD)
    finally:
        proxy.stop()


def test_its_connections_set_the_same_socket_options_as_boto3s_client(moto_endpoint: str) -> None:
    # TCP_NODELAY: without it, a request's body waited for the delayed ACK of its headers (40 ms a call).
    boto3_client = boto3.client("kinesis", region_name=REGION, endpoint_url=moto_endpoint)
    ours = sender_for(moto_endpoint)

    assert ours._http._socket_options == boto3_client._endpoint.http_session._socket_options
