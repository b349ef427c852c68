"""Where the writer's PutRecords goes: wherever botocore resolves the Kinesis endpoint, with all its rules.

No request leaves the process: a before-send handler records the request and answers it, which
botocore takes in place of sending it.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from kinesis_export.config import DestinationConfig
from kinesis_export.deadline import Deadline
from kinesis_export.records import Record
from kinesis_export.wiring import stream_writer

ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_KINESIS",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_PROFILE",
)


@pytest.fixture(autouse=True)
def no_endpoint_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing chosen for botocore (unit tests run with fake credentials and no config files: conftest)."""
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class _Body:
    """The raw side of a canned answer, as AWSResponse reads it."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


def sent_to(config: DestinationConfig, region: str | None) -> list[str]:
    """The URLs of the PutRecords requests a writer made for one record, each answered as written."""
    urls: list[str] = []

    def answer(request: Any, **_: Any) -> AWSResponse:
        urls.append(request.url)
        entries = json.loads(request.body)["Records"]
        body = {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "shardId-0"}] * len(entries)}
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, 200, headers, _Body(json.dumps(body).encode()))  # type: ignore[arg-type]

    writer = stream_writer(config, region, session=boto3.Session())
    writer._client.meta.events.register("before-send.kinesis.PutRecords", answer)
    result = writer.write([Record("key", b"data")], Deadline.after(10))
    assert result.failed == {}
    return urls


def in_region(config: DestinationConfig, region: str | None) -> DestinationConfig:
    return config.model_copy(update={"stream": config.stream.model_copy(update={"region": region})})


def test_fips_setting_sends_put_records_to_the_fips_endpoint(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")

    assert sent_to(in_region(example_config, "us-west-2"), None) == ["https://kinesis-fips.us-west-2.amazonaws.com/"]


def test_dual_stack_setting_sends_put_records_to_the_dual_stack_endpoint(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")

    assert sent_to(in_region(example_config, "eu-west-1"), None) == ["https://kinesis.eu-west-1.api.aws/"]


def test_the_kinesis_variable_wins_over_the_general_one(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4567")

    assert sent_to(in_region(example_config, "eu-west-1"), "us-east-1") == ["http://127.0.0.1:4567/"]


def test_an_empty_kinesis_variable_is_ignored(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")

    assert sent_to(in_region(example_config, None), "us-east-1") == ["http://127.0.0.1:4566/"]


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-west-1", "https://kinesis.eu-west-1.amazonaws.com/"),
        ("cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn/"),
    ],
)
def test_without_a_configured_endpoint_put_records_goes_to_the_streams_regional_one(
    example_config: DestinationConfig, region: str, expected: str
) -> None:
    assert sent_to(in_region(example_config, region), "us-east-1") == [expected]


def test_without_a_stream_region_the_functions_region_is_used(example_config: DestinationConfig) -> None:
    assert sent_to(in_region(example_config, None), "ap-southeast-2") == [
        "https://kinesis.ap-southeast-2.amazonaws.com/"
    ]


def test_configured_endpoints_are_ignored_when_botocore_is_told_to(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")

    assert sent_to(in_region(example_config, "eu-west-1"), None) == ["https://kinesis.eu-west-1.amazonaws.com/"]
