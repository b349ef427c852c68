"""The local moto server's Kinesis takes records as large as each stream's maximum, as AWS does.

moto alone knows no MaxRecordSizeInKiB, refuses records over 1 MiB and calls over 5 MiB, and lets
PutRecord write a record of any size: each test here fails without its extension
(kinesis_export_cli.local.take_large_records).
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kinesis_export_cli.local import LOCAL_CREDENTIALS, local_client
from tests.integration.conftest import REGION

MIB = 1024 * 1024


@pytest.fixture
def kinesis(moto_endpoint: str) -> Any:
    return local_client("kinesis", moto_endpoint, REGION)


def stream(kinesis: Any, **settings: Any) -> str:
    name = f"sized-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1, **settings)
    return name


def record(size: int, key: str = "k") -> dict[str, Any]:
    """A PutRecords entry of `size` bytes, data plus partition key."""
    return {"PartitionKey": key, "Data": b"x" * (size - len(key))}


def max_record_size(kinesis: Any, name: str) -> int:
    return int(kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["MaxRecordSizeInKiB"])


def refused(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_stream_takes_records_up_to_its_own_maximum_and_refuses_larger_ones_whole(kinesis):
    # given a stream left at the default and one created for 2 MiB records
    default, large = stream(kinesis), stream(kinesis, MaxRecordSizeInKiB=2048)

    # then each says what it takes
    assert (max_record_size(kinesis, default), max_record_size(kinesis, large)) == (1024, 2048)

    # and a 1.5 MiB record goes onto the large one, by PutRecord and by PutRecords, up to exactly 2 MiB
    one_and_a_half = record(3 * MIB // 2)
    kinesis.put_record(StreamName=large, **one_and_a_half)
    answer = kinesis.put_records(StreamName=large, Records=[one_and_a_half, record(2 * MIB)])
    assert answer["FailedRecordCount"] == 0 and all(entry["SequenceNumber"] for entry in answer["Records"])

    # while the default stream refuses it with AWS's error, and refuses the call it is in whole
    assert refused(lambda: kinesis.put_record(StreamName=default, **one_and_a_half)) == (
        "ValidationException",
        "1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less "
        "than or equal to 1048576",
    )
    assert refused(lambda: kinesis.put_records(StreamName=default, Records=[record(10), one_and_a_half])) == (
        "ValidationException",
        "1 validation error detected: Value at 'records.2.member.data' failed to satisfy constraint: Member must "
        "have length less than or equal to 1048576",
    )
    assert refused(lambda: kinesis.put_records(StreamName=large, Records=[record(2 * MIB + 1)]))[0] == (
        "ValidationException"
    )


def test_update_max_record_size_changes_what_a_stream_takes(kinesis):
    # given a stream of 1 MiB records
    name = stream(kinesis)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]

    # when its maximum is raised to 10 MiB
    kinesis.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=10240)

    # then it says so, and takes a 10 MiB record (key included), alone in a call
    assert max_record_size(kinesis, name) == 10240
    assert kinesis.put_records(StreamName=name, Records=[record(10 * MIB)])["FailedRecordCount"] == 0
    # and a size out of AWS's range is refused (as botocore would refuse it before sending)
    unchecked = boto3.client(
        "kinesis",
        endpoint_url=kinesis.meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(parameter_validation=False),
    )
    assert refused(lambda: unchecked.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=10241))[0] == (
        "ValidationException"
    )
    assert max_record_size(kinesis, name) == 10240


def test_a_putrecords_call_takes_up_to_ten_mebibytes(kinesis):
    # given a stream of 1 MiB records
    name = stream(kinesis)

    # then a call of nine 1 MiB records (over the 5 MiB of old) is taken, and one of ten and a byte refused
    nine = [record(MIB, f"k{n}") for n in range(9)]
    assert kinesis.put_records(StreamName=name, Records=nine)["FailedRecordCount"] == 0
    assert refused(lambda: kinesis.put_records(StreamName=name, Records=[*nine, record(MIB), record(10)])) == (
        "InvalidArgumentException",
        "Records size exceeds 10 MB limit",
    )
