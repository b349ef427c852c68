"""The function's permissions are exactly these statements: nothing added by a helper, no '*' action."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Assembly
from tests.infra.templates import (
    ACCESS,
    ACCESS_KEY,
    ASSUME_ROLE,
    EXAMPLE,
    EXISTING,
    FIFO,
    PROVISIONED,
    arn,
    attached_statements,
    inline_statements,
    logical_id,
    of_type,
    resource,
)

KEY_EXISTING = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_PROVISIONED = "arn:aws:kms:us-east-1:111122223333:key/abcd1234-12ab-34cd-56ef-1234567890ab"
LIST_STREAMS = {"Sid": "ListStreams", "Effect": "Allow", "Action": "kinesis:ListStreams", "Resource": "*"}
XRAY = {"Effect": "Allow", "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": "*"}
# What CDK gives a state machine that logs to CloudWatch Logs: the log-delivery actions, which IAM
# accepts on '*' only; with tracing, merged with X-Ray's (minimizePolicies).
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
]
LOG_DELIVERY = {"Effect": "Allow", "Action": LOG_DELIVERY_ACTIONS, "Resource": "*"}
LOG_DELIVERY_AND_XRAY = {
    "Effect": "Allow",
    "Action": [
        *LOG_DELIVERY_ACTIONS,
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    ],
    "Resource": "*",
}


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
            "Sid": "ContinueLongMessages",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
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
    return inline_statements(template, "Exporter/Role")


def _attached_policies(template: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return attached_statements(template, "Exporter/Role")


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


def test_fifo_role_may_not_send_to_its_ingest_queue(fixtures: Assembly) -> None:
    # given a destination with ingest.fifo, whose function never continues a message (and profile state)
    template = fixtures.templates[FIFO]

    # then its role holds the same statements as the example's, but for ContinueLongMessages, and its profile
    # state table's
    assert _role_statements(template) == [
        LIST_STREAMS,
        {
            "Sid": "WriteStream",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": arn(template, "Stream/Stream"),
        },
        *[s for s in _queue_and_log_statements(template) if s["Sid"] != "ContinueLongMessages"],
        {
            "Sid": "KeepProfileState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:PutItem"],
            "Resource": arn(template, "Profiles/Table"),
        },
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
        # with idempotency (tests/infra/test_idempotency.py)
        {
            "Sid": "TrackEventIds",
            "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": arn(template, "Idempotency/Table"),
        },
    ]
    assert _attached_policies(template) == []


def test_assumed_role_mode_lets_the_function_assume_exactly_that_role_and_write_nothing_itself(
    fixtures: Assembly,
) -> None:
    # given an assumeRole destination (its stream in another account, with a customer key)
    template = fixtures.templates[ASSUME_ROLE]

    # then the assumed role holds the stream's permissions; this role only the way to it
    assert _role_statements(template) == [
        {
            "Sid": "AssumeStreamRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::222233334444:role/partners/KinesisExportWriter",
        },
        *_queue_and_log_statements(template),
    ]
    assert _attached_policies(template) == []


def test_access_key_mode_lets_the_function_read_exactly_that_secret_and_write_nothing_itself(
    fixtures: Assembly,
) -> None:
    template = fixtures.templates[ACCESS_KEY]

    assert _role_statements(template) == [
        {
            "Sid": "ReadAccessKey",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:kinesis-export/agency-AbCdEf",
        },
        *_queue_and_log_statements(template),
    ]
    assert _attached_policies(template) == []


def test_no_identity_policy_allows_a_wildcard_action_and_only_unscoped_actions_get_every_resource(
    assemblies: list[Assembly],
) -> None:
    for assembly in assemblies:
        for name, template in assembly.templates.items():
            statements = [
                statement
                for role in of_type(template, "AWS::IAM::Role").values()
                for policy in role["Properties"].get("Policies", [])
                for statement in policy["PolicyDocument"]["Statement"]
            ] + [
                statement
                for policy in of_type(template, "AWS::IAM::Policy").values()
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            ]
            assert statements, name
            for statement in statements:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert statement["Effect"] == "Allow"
                assert not any("*" in action for action in actions), f"{name}: {statement}"
                if statement["Resource"] == "*":
                    assert statement in (LIST_STREAMS, XRAY, LOG_DELIVERY, LOG_DELIVERY_AND_XRAY), (
                        f"{name}: {statement}"
                    )


def test_no_role_gets_a_managed_policy(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        for name, template in assembly.templates.items():
            for role in of_type(template, "AWS::IAM::Role").values():
                assert "ManagedPolicyArns" not in role["Properties"], name


def test_each_function_and_state_machine_runs_as_a_role_of_its_own(assemblies: list[Assembly]) -> None:
    # the exporter, the connection check, and the Provider framework's relay
    functions = {
        "Exporter/Function": "Exporter/Role",
        "ConnectionCheck/Function": "ConnectionCheck/Role",
        "ConnectionCheck/Provider/framework-onEvent": "ConnectionCheck/ProviderRole",
    }
    # with a backfill, its worker and its state machine, and the role EventBridge starts it with
    backfill = {"Backfill/Worker": "Backfill/WorkerRole", "Backfill/StateMachine": "Backfill/StateMachineRole"}
    for assembly in assemblies:
        for template in assembly.export_templates.values():
            users = functions | backfill if of_type(template, "AWS::StepFunctions::StateMachine") else functions
            roles = list(users.values())
            if "Backfill/StateMachine" in users:
                roles.append("Backfill/StateMachine/EventsRole")
            assert sorted(of_type(template, "AWS::IAM::Role")) == sorted(logical_id(template, r) for r in roles)
            for user, role in users.items():
                properties = resource(template, user)["Properties"]
                assert properties.get("Role", properties.get("RoleArn")) == arn(template, role)


def test_the_roles_that_reach_the_stream_are_on_the_destinations_path(assemblies: list[Assembly]) -> None:
    # the path the access stack's trust policy names
    for assembly in assemblies:
        for name, template in assembly.export_templates.items():
            destination = name.removeprefix("KinesisExport-")
            roles = ["Exporter/Role", "ConnectionCheck/Role"]
            if of_type(template, "AWS::StepFunctions::StateMachine"):
                roles.append("Backfill/WorkerRole")
            for role in roles:
                assert resource(template, role)["Properties"]["Path"] == f"/kinesis-export/{destination}/"


def test_the_list_streams_acknowledgement_is_only_on_roles_holding_list_streams(assemblies: list[Assembly]) -> None:
    # given every role of every stack, and the nag rules acknowledged on it
    for assembly in assemblies:
        for name, template in assembly.templates.items():
            acknowledged = assembly.acknowledged(name)
            for role_id, role in of_type(template, "AWS::IAM::Role").items():
                path = role["Metadata"]["aws:cdk:path"].removeprefix(f"{name}/")
                statements = [
                    s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
                ]
                star = {"AwsSolutions-IAM5[Resource::*]", "Serverless-LambdaStarPermissions"}

                # then the Resource '*' findings are acknowledged exactly where ListStreams is granted
                held = star & acknowledged.get(path, set())
                if LIST_STREAMS in statements:
                    assert "AwsSolutions-IAM5[Resource::*]" in held, f"{name} {role_id}"
                else:
                    assert held == set(), f"{name} {role_id}"


def test_only_the_roles_the_check_runs_with_may_describe_the_stream_and_only_when_it_reads_it(
    assemblies: list[Assembly],
) -> None:
    # given every role of every stack; the fixtures' configs say records over 1 MiB in every credentials mode
    holders = set()
    for assembly in assemblies:
        for name, template in assembly.templates.items():
            for role_id, role in of_type(template, "AWS::IAM::Role").items():
                # Its inline policies, and the AWS::IAM::Policy resources attached to it (what grants add).
                documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])] + [
                    p["Properties"]["PolicyDocument"]
                    for p in of_type(template, "AWS::IAM::Policy").values()
                    if {"Ref": role_id} in p["Properties"]["Roles"]
                ]
                statements = [statement for document in documents for statement in document["Statement"]]
                if any("kinesis:DescribeStreamSummary" in str(statement["Action"]) for statement in statements):
                    holders.add((name, role["Metadata"]["aws:cdk:path"].removeprefix(f"{name}/")))

    # then only the check's own role for an existing stream (executionRole) and the access stack's role
    # (assumeRole) hold DescribeStreamSummary: never an exporter or a backfill, nor a stream the stack creates
    assert holders == {
        (EXISTING, "ConnectionCheck/Role/Resource"),
        (ACCESS, "Role/Resource"),
    }
