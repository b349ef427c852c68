"""The stream: created on-demand or provisioned, encrypted; or, when it exists, left alone."""

from __future__ import annotations

from tests.infra.conftest import Assembly
from tests.infra.templates import ASSUME_ROLE, EXAMPLE, EXISTING, PROVISIONED, of_type, resource


def test_created_stream_is_on_demand_with_the_aws_managed_key_by_default(example: Assembly) -> None:
    stream = resource(example.templates[EXAMPLE], "Stream/Stream")

    assert stream["Properties"]["Name"] == "segment-exports"
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in stream["Properties"]
    assert stream["Properties"]["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["Properties"]["RetentionPeriodHours"] == 24
    # the stream holds exported data other systems read: deleting the stack keeps it
    assert stream["DeletionPolicy"] == "Retain"


def test_stream_with_shards_is_provisioned_and_encrypted_with_the_customer_key(fixtures: Assembly) -> None:
    stream = resource(fixtures.templates[PROVISIONED], "Stream/Stream")

    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["Properties"]["ShardCount"] == 2
    assert stream["Properties"]["RetentionPeriodHours"] == 168
    assert stream["Properties"]["StreamEncryption"] == {
        "EncryptionType": "KMS",
        "KeyId": "arn:aws:kms:us-east-1:111122223333:key/abcd1234-12ab-34cd-56ef-1234567890ab",
    }


def test_existing_stream_is_neither_created_nor_changed(fixtures: Assembly) -> None:
    template = fixtures.templates[EXISTING]

    assert of_type(template, "AWS::Kinesis::Stream") == {}
    assert of_type(template, "AWS::KMS::Key") == {}
    assert template["Outputs"]["StreamName"]["Value"] == "loyalty-segments"


def test_existing_stream_of_an_assumed_role_is_in_the_roles_account(fixtures: Assembly) -> None:
    outputs = fixtures.templates[ASSUME_ROLE]["Outputs"]

    assert outputs["StreamArn"]["Value"] == "arn:aws:kinesis:eu-west-1:222233334444:stream/partner-segments"
