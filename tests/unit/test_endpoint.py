"""Which Kinesis endpoint the writer sends to: the environment's, else botocore's own resolution."""

from __future__ import annotations

import boto3
import pytest

from kinesis_export.config import DestinationConfig
from kinesis_export.credentials import kinesis_endpoint

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


@pytest.fixture(autouse=True)
def no_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def in_region(config: DestinationConfig, region: str | None) -> DestinationConfig:
    return config.model_copy(update={"stream": config.stream.model_copy(update={"region": region})})


def test_the_kinesis_variable_wins_over_the_general_one(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "https://kinesis.eu-west-1.amazonaws.com")

    endpoint = kinesis_endpoint(in_region(example_config, "eu-west-1"), "us-east-1", boto3.Session())

    assert endpoint == ("https://kinesis.eu-west-1.amazonaws.com", "eu-west-1")


def test_an_empty_kinesis_variable_is_ignored_as_botocore_ignores_it(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")

    assert kinesis_endpoint(in_region(example_config, None), "us-east-1", boto3.Session()) == (
        "http://127.0.0.1:4566",
        "us-east-1",
    )


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("eu-west-1", "https://kinesis.eu-west-1.amazonaws.com"),
        ("cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn"),
    ],
)
def test_without_a_configured_endpoint_botocore_resolves_the_streams_regional_one(
    example_config: DestinationConfig, region: str, expected: str
) -> None:
    assert kinesis_endpoint(in_region(example_config, region), "us-east-1", boto3.Session()) == (expected, region)


def test_configured_endpoints_are_ignored_when_botocore_is_told_to(
    example_config: DestinationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")

    endpoint = kinesis_endpoint(in_region(example_config, "eu-west-1"), None, boto3.Session())

    assert endpoint == ("https://kinesis.eu-west-1.amazonaws.com", "eu-west-1")
