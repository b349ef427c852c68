"""The function's permissions are exactly these statements: nothing added by a helper, no '*' action."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Assembly
from tests.infra.templates import EXAMPLE, EXISTING, PROVISIONED, arn, logical_id, of_type, resource

KEY_EXISTING = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_PROVISIONED = "arn:aws:kms:us-east-1:111122223333:key/abcd1234-12ab-34cd-56ef-1234567890ab"
LIST_STREAMS = {"Sid": "ListStreams", "Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "*"}
XRAY = {"Effect": "Allow", "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": "*"}


def _queue_and_log_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "ParkRejects",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": arn(template, "Exporter/RejectsQueue"),
        },
        {
            "Sid": "ConsumeIngestQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            "Resource": arn(template, "Exporter/IngestQueue"),
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": arn(template, "Exporter/LogGroup"),
        },
    ]


def _role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = resource(template, "Exporter/Role")["Properties"]
    assert "ManagedPolicyArns" not in role, "no managed policy: every permission is written out"
    [policy] = role["Policies"]
    return policy["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def _attached_policies(template: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [
        policy["Properties"]["PolicyDocument"]["Statement"] for policy in of_type(template, "AWS::IAM::Policy").values()
    ]


def test_created_stream_role_writes_only_to_that_stream(example: Assembly) -> None:
    # given the example destination, whose stream the pipeline creates with the AWS-managed key
    template = example.templates[EXAMPLE]

    # then the role holds exactly these statements, and no other policy is attached to it
    assert _role_statements(template) == [
        LIST_STREAMS,
        {
            "Sid": "WriteStream",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": arn(template, "Stream/Stream"),
        },
        *_queue_and_log_statements(template),
    ]
    assert _attached_policies(template) == []


def test_existing_stream_role_names_the_stream_by_region_and_uses_the_customer_key(fixtures: Assembly) -> None:
    # given a stream that already exists in eu-west-1, encrypted with a customer key, and tracing on
    template = fixtures.templates[EXISTING]

    # then the stream is named by ARN in its region, the key allows only GenerateDataKey,
    assert _role_statements(template) == [
        LIST_STREAMS,
        {
            "Sid": "WriteStream",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": {
                "Fn::Join": ["", ["arn:aws:kinesis:eu-west-1:", {"Ref": "AWS::AccountId"}, ":stream/loyalty-segments"]]
            },
        },
        {"Sid": "EncryptRecords", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": KEY_EXISTING},
        *_queue_and_log_statements(template),
    ]
    # and the only other policy is the one active tracing needs
    assert _attached_policies(template) == [[XRAY]]
    assert of_type(template, "AWS::Kinesis::Stream") == {}


def test_created_stream_with_a_customer_key_may_generate_data_keys_from_it(fixtures: Assembly) -> None:
    template = fixtures.templates[PROVISIONED]

    assert _role_statements(template) == [
        LIST_STREAMS,
        {
            "Sid": "WriteStream",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": arn(template, "Stream/Stream"),
        },
        {"Sid": "EncryptRecords", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": KEY_PROVISIONED},
        *_queue_and_log_statements(template),
    ]
    assert _attached_policies(template) == []


def test_no_identity_policy_allows_a_wildcard_action_and_only_unscoped_actions_get_every_resource(
    assemblies: list[Assembly],
) -> None:
    for assembly in assemblies:
        for name, template in assembly.templates.items():
            statements = _role_statements(template) + [s for p in _attached_policies(template) for s in p]
            for statement in statements:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert statement["Effect"] == "Allow"
                assert not any("*" in action for action in actions), f"{name}: {statement}"
                if statement["Resource"] == "*":
                    assert statement in (LIST_STREAMS, XRAY), f"{name}: {statement}"


def test_the_function_runs_as_the_exporter_role(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        for template in assembly.templates.values():
            [role] = of_type(template, "AWS::IAM::Role")
            assert role == logical_id(template, "Exporter/Role")
            assert resource(template, "Exporter/Function")["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
