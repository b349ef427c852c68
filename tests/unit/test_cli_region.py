"""One region for every command, resolved as the AWS SDKs and CLI resolve it."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from kinesis_export.connection import describe_failure
from kinesis_export.credentials import aws_region


@pytest.fixture
def profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A profile whose region is eu-central-1, and no region variable."""
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ops")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def test_aws_region_wins_over_aws_default_region_which_wins_over_the_profile(profile, monkeypatch):
    assert aws_region() == "eu-central-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert aws_region() == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert aws_region() == "us-west-2"


def test_no_region_anywhere_is_none(profile, monkeypatch):
    monkeypatch.delenv("AWS_PROFILE")
    assert aws_region() is None


def test_access_denied_is_worded_without_aws_message_which_names_the_caller():
    error = ClientError(
        {
            "Error": {
                "Code": "AccessDenied",
                "Message": "User: arn:aws:sts::1:assumed-role/r/jane.doe is not authorized",
            }
        },
        "DescribeStacks",
    )

    assert (
        describe_failure(error) == "access denied to DescribeStacks (AccessDenied): grant it to the credentials in use"
    )


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (NoRegionError(), "no AWS region: set AWS_REGION or AWS_DEFAULT_REGION"),
        (NoCredentialsError(), "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        (
            EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com/"),
            "cannot reach https://sqs.eu-west-1.amazonaws.com/ (EndpointConnectionError): check the network, "
            "a proxy, or AWS_ENDPOINT_URL",
        ),
        (
            ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "ReceiveMessage"),
            "AWS refused the credentials in use (ExpiredToken): they are invalid or expired; renew them",
        ),
    ],
)
def test_each_ordinary_failure_is_one_line(error, line):
    assert describe_failure(error) == line
