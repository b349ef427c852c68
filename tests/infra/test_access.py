"""The access stack: in the stream's account, the role an assumeRole exporter assumes, and who may assume it."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import App, Environment

from infra.access import AccessStack
from kinesis_export.config import AssumeRole, parse_config
from tests.infra.conftest import FIXTURES, Assembly
from tests.infra.templates import ACCESS, of_type
from tests.infra.test_iam import LIST_STREAMS

ROLE_ARN = "arn:aws:iam::222233334444:role/partners/KinesisExportWriter"
EXTERNAL_ID = "kinesis-export-partner-cross-account-7f3e"


def test_access_role_is_the_configured_role_arn_by_name_and_path(fixtures: Assembly) -> None:
    template = fixtures.templates[ACCESS]

    [(role_id, role)] = of_type(template, "AWS::IAM::Role").items()

    assert role["Properties"]["RoleName"] == "KinesisExportWriter"
    assert role["Properties"]["Path"] == "/partners/"
    assert "MaxSessionDuration" not in role["Properties"]  # IAM's default, one hour
    assert template["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
    # and nothing else is in the stack
    assert list(template["Resources"]) == [role_id]


def test_access_stack_is_deployed_to_the_streams_account_and_region(fixtures: Assembly) -> None:
    assert fixtures.environment(ACCESS) == "aws://222233334444/eu-west-1"


def test_only_the_exporters_roles_in_its_account_may_assume_the_role_and_only_with_the_external_id(
    fixtures: Assembly,
) -> None:
    [role] = of_type(fixtures.templates[ACCESS], "AWS::IAM::Role").values()

    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Condition": {
                # the confused deputy: knowing the role's ARN is not enough
                "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
                # the exporter's and the connection check's roles, by the destination's path
                "ArnLike": {
                    "aws:PrincipalArn": "arn:aws:iam::111122223333:role/kinesis-export/partner-cross-account/*"
                },
            },
        }
    ]


def test_access_role_may_write_only_to_the_one_stream_with_its_customer_key(fixtures: Assembly) -> None:
    [role] = of_type(fixtures.templates[ACCESS], "AWS::IAM::Role").values()

    [policy] = role["Properties"]["Policies"]

    assert policy["PolicyDocument"]["Statement"] == [
        LIST_STREAMS,
        {
            "Sid": "WriteStream",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": "arn:aws:kinesis:eu-west-1:222233334444:stream/partner-segments",
        },
        {
            "Sid": "EncryptRecords",
            "Effect": "Allow",
            "Action": "kms:GenerateDataKey",
            "Resource": "arn:aws:kms:eu-west-1:222233334444:key/5678abcd-12ab-34cd-56ef-1234567890ab",
        },
        # the config says the stream takes 4 MiB records: the connection check, which runs with this role,
        # reads what the stream takes
        {
            "Sid": "ReadMaxRecordSize",
            "Effect": "Allow",
            "Action": "kinesis:DescribeStreamSummary",
            "Resource": "arn:aws:kinesis:eu-west-1:222233334444:stream/partner-segments",
        },
    ]
    assert of_type(fixtures.templates[ACCESS], "AWS::IAM::Policy") == {}


def test_a_role_in_the_exporters_own_account_without_path_or_key(tmp_path: Path) -> None:
    # given a role ARN without a path, no exporterAccountId, no customer key, and no region anywhere
    config = json.loads((FIXTURES / "assume-role.json").read_text())
    config["credentials"] = {
        "mode": "assumeRole",
        "roleArn": "arn:aws:iam::222233334444:role/Writer",
        "externalId": "x1",
    }
    config["stream"] = {"name": "partner-segments"}
    destination = parse_config(config)
    assert isinstance(destination.credentials, AssumeRole)

    # when only the access stack is synthesized (no nag, no assets: a plain stack)
    app = App(outdir=str(tmp_path))
    stack = AccessStack(
        app,
        ACCESS,
        config=destination,
        credentials=destination.credentials,
        env=Environment(account="222233334444"),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template

    # then the role has no path, trusts its own account's roles, and names the stream by the deploying region
    [role] = of_type(template, "AWS::IAM::Role").values()
    assert role["Properties"]["RoleName"] == "Writer"
    assert "Path" not in role["Properties"]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {
        "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::222233334444:root"]]}
    }
    assert trust["Condition"] == {
        "StringEquals": {"sts:ExternalId": "x1"},
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::222233334444:role/kinesis-export/partner-cross-account/*"},
    }
    [policy] = role["Properties"]["Policies"]
    # (records of 1 MiB, which every stream takes: nothing for the check to read)
    assert [statement["Sid"] for statement in policy["PolicyDocument"]["Statement"]] == ["ListStreams", "WriteStream"]
    assert policy["PolicyDocument"]["Statement"][1]["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":kinesis:",
                {"Ref": "AWS::Region"},
                ":222233334444:stream/partner-segments",
            ],
        ]
    }
