"""The stream: created on-demand or provisioned, encrypted; or, when it exists, left alone."""

from __future__ import annotations

from tests.infra.conftest import Assembly
from tests.infra.templates import ASSUME_ROLE, BACKFILL, EXAMPLE, EXISTING, PROVISIONED, of_type, resource


def test_created_stream_is_on_demand_with_the_aws_managed_key_by_default(example: Assembly) -> None:
    stream = resource(example.templates[EXAMPLE], "Stream/Stream")

    assert stream["Properties"]["Name"] == "segment-exports"
    assert stream["Properties"]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in stream["Properties"]
    assert stream["Properties"]["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["Properties"]["RetentionPeriodHours"] == 24
    # records of 1 MiB, every stream's default: the property is left out, as before it existed
    assert "MaxRecordSizeInKiB" not in stream["Properties"]
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


def test_created_stream_takes_records_as_large_as_the_config_says(example: Assembly, fixtures: Assembly) -> None:
    # given a created stream configured for 10 MiB records, and two left at the default (1 MiB)
    large = resource(fixtures.templates[PROVISIONED], "Stream/Stream")["Properties"]
    defaults = [
        resource(template, "Stream/Stream")["Properties"]
        for template in (example.templates[EXAMPLE], fixtures.templates[BACKFILL])
    ]

    # then the first is created with Kinesis's MaxRecordSizeInKiB, the others without it
    assert large["MaxRecordSizeInKiB"] == 10240
    assert all("MaxRecordSizeInKiB" not in properties for properties in defaults)


def test_existing_stream_is_neither_created_nor_changed(fixtures: Assembly) -> None:
    template = fixtures.templates[EXISTING]

    assert of_type(template, "AWS::Kinesis::Stream") == {}
    assert of_type(template, "AWS::KMS::Key") == {}
    assert template["Outputs"]["StreamName"]["Value"] == "loyalty-segments"


def test_existing_stream_of_an_assumed_role_is_in_the_roles_account(fixtures: Assembly) -> None:
    outputs = fixtures.templates[ASSUME_ROLE]["Outputs"]

    assert outputs["StreamArn"]["Value"] == "arn:aws:kinesis:eu-west-1:222233334444:stream/partner-segments"
