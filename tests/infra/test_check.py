"""The connection check at deployment: a custom resource, its function and the permissions of both."""

from __future__ import annotations

import hashlib
from typing import Any

from infra.check import CHECK_FUNCTION_LOGICAL_ID
from infra.exporter import FUNCTION_LOGICAL_ID
from tests.infra.conftest import FIXTURES, Assembly
from tests.infra.templates import (
    ACCESS_KEY,
    ASSUME_ROLE,
    BACKFILL,
    EXAMPLE,
    EXISTING,
    FIFO,
    PROVISIONED,
    arn,
    attached_statements,
    inline_statements,
    logical_id,
    of_type,
    ref,
    resource,
)
from tests.infra.test_iam import LIST_STREAMS
from tests.support import EXAMPLE_CONFIG

CONFIGS = {
    EXAMPLE: EXAMPLE_CONFIG,
    EXISTING: FIXTURES / "existing-stream.json",
    PROVISIONED: FIXTURES / "provisioned-stream.json",
    ASSUME_ROLE: FIXTURES / "assume-role.json",
    ACCESS_KEY: FIXTURES / "access-key.json",
    BACKFILL: FIXTURES / "backfill.json",
    FIFO: FIXTURES / "fifo.json",
}


def _check(template: dict[str, Any]) -> dict[str, Any]:
    [check] = of_type(template, "Custom::KinesisExportConnectionCheck").values()
    return check


def _logs(template: dict[str, Any], log_group: str) -> dict[str, Any]:
    return {
        "Sid": "WriteLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": arn(template, log_group),
    }


def test_every_export_stack_runs_the_check_through_the_provider_framework(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        for name, template in assembly.export_templates.items():
            check = _check(template)

            assert check["Properties"] == {
                "ServiceToken": arn(template, "ConnectionCheck/Provider/framework-onEvent"),
                # a changed config changes the property, so an update runs the check again
                "ConfigSha256": hashlib.sha256(CONFIGS[name].read_bytes()).hexdigest(),
            }
            framework = resource(template, "ConnectionCheck/Provider/framework-onEvent")["Properties"]
            assert framework["Environment"]["Variables"] == {
                "USER_ON_EVENT_FUNCTION_ARN": {"Fn::GetAtt": [CHECK_FUNCTION_LOGICAL_ID, "Arn"]}
            }
            assert framework["LoggingConfig"]["LogGroup"] == ref(template, "ConnectionCheck/ProviderLogGroup")


def test_the_check_waits_for_a_stream_the_stack_creates(example: Assembly, fixtures: Assembly) -> None:
    for template in (example.templates[EXAMPLE], fixtures.templates[PROVISIONED], fixtures.templates[BACKFILL]):
        assert _check(template)["DependsOn"] == [logical_id(template, "Stream/Stream")]
    # an existing stream is not in the stack: nothing to wait for
    for name in (EXISTING, ASSUME_ROLE, ACCESS_KEY):
        assert "DependsOn" not in _check(fixtures.templates[name]), name


def test_check_function_is_the_exporters_package_runtime_and_layer_with_the_check_handler(
    assemblies: list[Assembly],
) -> None:
    for assembly in assemblies:
        for name, template in assembly.export_templates.items():
            exporter = template["Resources"][FUNCTION_LOGICAL_ID]
            check = template["Resources"][CHECK_FUNCTION_LOGICAL_ID]

            assert check["Properties"]["Handler"] == "kinesis_export.handlers.check.handler"
            for same in ("Code", "Runtime", "Architectures", "Layers"):
                assert check["Properties"][same] == exporter["Properties"][same], f"{name}: {same}"
            assert check["Metadata"]["aws:asset:path"] == exporter["Metadata"]["aws:asset:path"], name
            # the exporter's variables, but for the queues and the idempotency and profile state tables,
            # which only the exporter uses
            variables = dict(exporter["Properties"]["Environment"]["Variables"])
            del variables["REJECTS_QUEUE_URL"]
            variables.pop("INGEST_QUEUE_URL", None)  # none with ingest.fifo
            variables.pop("IDEMPOTENCY_TABLE_NAME", None)
            variables.pop("PROFILE_TABLE_NAME", None)
            assert check["Properties"]["Environment"]["Variables"] == variables, name
            assert check["Properties"]["LoggingConfig"] == {
                "LogFormat": "JSON",
                "LogGroup": ref(template, "ConnectionCheck/LogGroup"),
            }
            assert check["Properties"]["Timeout"] == 60


def test_check_role_in_execution_role_mode_may_only_list_streams(example: Assembly, fixtures: Assembly) -> None:
    # records of 1 MiB (the example), or larger on a stream the stack creates and sets (provisioned): nothing to read
    for template in (example.templates[EXAMPLE], fixtures.templates[PROVISIONED]):
        assert inline_statements(template, "ConnectionCheck/Role") == [
            LIST_STREAMS,
            _logs(template, "ConnectionCheck/LogGroup"),
        ]
        assert attached_statements(template, "ConnectionCheck/Role") == []


def test_check_role_of_an_existing_stream_taking_records_over_one_mebibyte_may_read_its_summary(
    fixtures: Assembly,
) -> None:
    # given an existing stream the config says takes 2 MiB records: the check reads what the stream takes
    template = fixtures.templates[EXISTING]

    # then the check's role may also describe that one stream, and nothing else
    assert inline_statements(template, "ConnectionCheck/Role") == [
        LIST_STREAMS,
        {
            "Sid": "ReadMaxRecordSize",
            "Effect": "Allow",
            "Action": "kinesis:DescribeStreamSummary",
            "Resource": {
                "Fn::Join": ["", ["arn:aws:kinesis:eu-west-1:", {"Ref": "AWS::AccountId"}, ":stream/loyalty-segments"]]
            },
        },
        _logs(template, "ConnectionCheck/LogGroup"),
    ]
    assert attached_statements(template, "ConnectionCheck/Role") == []


def test_check_role_in_assume_role_mode_may_only_assume_the_role(fixtures: Assembly) -> None:
    # records of 4 MiB: the check reads the stream's summary with the assumed role (tests/infra/test_access.py)
    template = fixtures.templates[ASSUME_ROLE]

    assert inline_statements(template, "ConnectionCheck/Role") == [
        {
            "Sid": "AssumeStreamRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::222233334444:role/partners/KinesisExportWriter",
        },
        _logs(template, "ConnectionCheck/LogGroup"),
    ]
    assert attached_statements(template, "ConnectionCheck/Role") == []


def test_check_role_in_access_key_mode_may_only_read_the_secret(fixtures: Assembly) -> None:
    # records of 2 MiB: the check reads the stream's summary as the key's IAM user, not with this role
    template = fixtures.templates[ACCESS_KEY]

    assert inline_statements(template, "ConnectionCheck/Role") == [
        {
            "Sid": "ReadAccessKey",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": "arn:aws:secretsmanager:us-east-1:111122223333:secret:kinesis-export/agency-AbCdEf",
        },
        _logs(template, "ConnectionCheck/LogGroup"),
    ]
    assert attached_statements(template, "ConnectionCheck/Role") == []


def test_provider_role_may_only_log_and_invoke_the_check(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        for template in assembly.export_templates.values():
            check = {"Fn::GetAtt": [CHECK_FUNCTION_LOGICAL_ID, "Arn"]}

            assert inline_statements(template, "ConnectionCheck/ProviderRole") == [
                _logs(template, "ConnectionCheck/ProviderLogGroup")
            ]
            # what the Provider framework adds itself
            assert attached_statements(template, "ConnectionCheck/ProviderRole") == [
                [
                    {
                        "Action": "lambda:InvokeFunction",
                        "Effect": "Allow",
                        "Resource": [check, {"Fn::Join": ["", [check, ":*"]]}],
                    },
                    {"Action": "lambda:GetFunction", "Effect": "Allow", "Resource": check},
                ]
            ]
