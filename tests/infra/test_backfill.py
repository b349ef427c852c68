"""Backfill at scale: the bucket, the rule on its files, the Distributed Map, the worker and their permissions."""

from __future__ import annotations

import json
from typing import Any

from infra.backfill import (
    EXISTING_STREAM_CONCURRENCY,
    ON_DEMAND_CONCURRENCY,
    file_key_pattern,
    max_concurrency,
    objects_under,
)
from infra.exporter import FUNCTION_LOGICAL_ID
from kinesis_export.config import load_config, parse_config
from tests.infra.conftest import FIXTURES, Assembly
from tests.infra.templates import (
    ACCESS_KEY,
    ASSUME_ROLE,
    BACKFILL,
    EXAMPLE,
    EXISTING,
    PROVISIONED,
    arn,
    attached_statements,
    inline_statements,
    logical_id,
    of_type,
    resource,
)
from tests.infra.test_iam import KEY_EXISTING, LIST_STREAMS, LOG_DELIVERY, LOG_DELIVERY_AND_XRAY, XRAY
from tests.support import EXAMPLE_CONFIG

BUCKET = {"Ref": "BackfillBucket"}
BUCKET_ARN = {"Fn::GetAtt": ["BackfillBucket", "Arn"]}
STATE_MACHINE = {"Ref": "BackfillStateMachine"}
WORKER_ARN = {"Fn::GetAtt": ["BackfillFunction", "Arn"]}
# The state machine's name, as CloudFormation cuts it from its ARN.
STATE_MACHINE_NAME = {"Fn::Select": [6, {"Fn::Split": [":", STATE_MACHINE]}]}


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    """The state machine's definition, each reference in it written as ${LogicalId} or ${LogicalId.Attribute}."""
    [machine] = of_type(template, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]

    def text(part: str | dict[str, Any]) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return "${" + part["Ref"] + "}"
        return "${" + ".".join(part["Fn::GetAtt"]) + "}"

    return json.loads("".join(text(part) for part in parts))  # type: ignore[no-any-return]


def _objects(prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [BUCKET_ARN, f"/{prefix}*"]]}


def test_only_a_config_with_backfill_gets_its_resources(example: Assembly, fixtures: Assembly) -> None:
    for template in (example.templates[EXAMPLE], fixtures.templates[PROVISIONED], fixtures.templates[ACCESS_KEY]):
        assert of_type(template, "AWS::S3::Bucket") == {}
        assert of_type(template, "AWS::StepFunctions::StateMachine") == {}
        assert not {"BackfillBucketName", "BackfillUri", "BackfillStateMachineArn"} & template["Outputs"].keys()
    for name in (BACKFILL, EXISTING, ASSUME_ROLE):
        assert list(of_type(fixtures.templates[name], "AWS::S3::Bucket")) == ["BackfillBucket"]
        assert list(of_type(fixtures.templates[name], "AWS::StepFunctions::StateMachine")) == ["BackfillStateMachine"]


def test_bucket_is_encrypted_private_tls_only_and_expires_what_it_holds(fixtures: Assembly) -> None:
    # given backfill.retentionDays 7
    template = fixtures.templates[BACKFILL]

    bucket = template["Resources"]["BackfillBucket"]

    assert bucket["Properties"]["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["Properties"]["LifecycleConfiguration"] == {
        "Rules": [
            {
                "Id": "Expire",
                "Status": "Enabled",
                "ExpirationInDays": 7,
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    }
    # on the bucket itself, not through CDK's notifications custom resource
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert of_type(template, "Custom::S3BucketNotifications") == {}
    assert "VersioningConfiguration" not in bucket["Properties"]
    # its results are the record of what each backfill did: deleting the stack keeps it
    assert bucket["DeletionPolicy"] == "Retain"
    # and a plain-HTTP request is refused for the bucket and every object in it
    [policy] = of_type(template, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == BUCKET
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": [BUCKET_ARN, {"Fn::Join": ["", [BUCKET_ARN, "/*"]]}],
        }
    ]


def test_files_expire_after_the_configured_retention(fixtures: Assembly) -> None:
    # backfill.retentionDays 14; and 30 by default
    for name, days in ((ASSUME_ROLE, 14), (EXISTING, 30)):
        [rule] = fixtures.templates[name]["Resources"]["BackfillBucket"]["Properties"]["LifecycleConfiguration"][
            "Rules"
        ]
        assert rule["ExpirationInDays"] == days, name


def test_a_jsonl_file_under_the_prefix_starts_the_state_machine_with_its_bucket_and_key(fixtures: Assembly) -> None:
    template = fixtures.templates[BACKFILL]

    rule = resource(template, "Backfill/FileRule")

    assert "EventBusName" not in rule["Properties"]  # S3 sends to the default bus
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"wildcard": "backfill/*.jsonl"}]}},
    }
    assert rule["Properties"]["Targets"] == [
        {
            "Arn": STATE_MACHINE,
            "Id": "Target0",
            "InputTransformer": {
                "InputPathsMap": {
                    "detail-bucket-name": "$.detail.bucket.name",
                    "detail-object-key": "$.detail.object.key",
                },
                "InputTemplate": '{"bucket":<detail-bucket-name>,"key":<detail-object-key>}',
            },
            "RoleArn": arn(template, "Backfill/StateMachine/EventsRole"),
        }
    ]


def test_the_rule_follows_the_configured_prefix(fixtures: Assembly) -> None:
    # backfill.prefix "imports/partner/"
    rule = resource(fixtures.templates[ASSUME_ROLE], "Backfill/FileRule")

    assert rule["Properties"]["EventPattern"]["detail"]["object"] == {"key": [{"wildcard": "imports/partner/*.jsonl"}]}


def test_a_star_in_the_prefix_matches_only_itself() -> None:
    assert file_key_pattern("backfill/") == "backfill/*.jsonl"
    assert file_key_pattern("a*b/") == "a\\*b/*.jsonl"
    assert objects_under("backfill/") == "backfill/*"
    assert objects_under("a*b/") == "a${*}b/*"


def test_state_machine_is_a_distributed_map_over_the_file_in_batches_to_the_worker(fixtures: Assembly) -> None:
    template = fixtures.templates[BACKFILL]

    definition = _definition(template)

    assert resource(template, "Backfill/StateMachine")["Properties"]["StateMachineType"] == "STANDARD"
    assert definition["StartAt"] == "ExportFile"
    assert definition["States"] == {
        "ExportFile": {
            "Type": "Map",
            "End": True,
            # the JSON Lines file named by the execution's input
            "ItemReader": {
                "Resource": "arn:${AWS::Partition}:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSONL"},
                "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
            },
            # one PutRecords call per batch, within what a child execution's input may hold
            "ItemBatcher": {"MaxItemsPerBatch": 500, "MaxInputBytesPerBatch": 240 * 1024},
            # derived from the stream's 3 shards
            "MaxConcurrency": 3,
            "ToleratedFailurePercentage": 10,
            "ResultWriter": {
                "Resource": "arn:${AWS::Partition}:states:::s3:putObject",
                "Parameters": {"Bucket": "${BackfillBucket}", "Prefix": "results/"},
            },
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "ExportBatch",
                "States": {
                    "ExportBatch": {
                        "Type": "Task",
                        "End": True,
                        # the worker's answer is the batch's result
                        "Resource": "${BackfillFunction.Arn}",
                        # any failure, the worker's or Lambda's, retried with a jittered backoff
                        "Retry": [
                            {
                                "ErrorEquals": ["States.TaskFailed"],
                                "IntervalSeconds": 5,
                                "MaxAttempts": 5,
                                "BackoffRate": 2,
                                "MaxDelaySeconds": 60,
                                "JitterStrategy": "FULL",
                            }
                        ],
                    }
                },
            },
        }
    }


def test_max_concurrency_comes_from_the_stream_unless_the_config_sets_it(fixtures: Assembly) -> None:
    # a created provisioned stream: one batch per shard; an existing stream: 2; maxConcurrency 8: 8
    for name, expected in ((BACKFILL, 3), (EXISTING, EXISTING_STREAM_CONCURRENCY), (ASSUME_ROLE, 8)):
        assert _definition(fixtures.templates[name])["States"]["ExportFile"]["MaxConcurrency"] == expected, name


def test_max_concurrency_of_each_kind_of_stream() -> None:
    example = json.loads(EXAMPLE_CONFIG.read_text())  # a created on-demand stream
    on_demand = parse_config({**example, "backfill": {}})
    provisioned = parse_config({**example, "stream": {**example["stream"], "shards": 12}, "backfill": {}})
    existing = parse_config({**example, "stream": {"name": "theirs"}, "backfill": {}})
    configured = parse_config({**example, "stream": {"name": "theirs"}, "backfill": {"maxConcurrency": 40}})

    assert max_concurrency(on_demand) == ON_DEMAND_CONCURRENCY == 4
    assert max_concurrency(provisioned) == 12
    assert max_concurrency(existing) == EXISTING_STREAM_CONCURRENCY == 2
    assert max_concurrency(configured) == 40


def test_state_machine_logs_every_event_but_never_the_profiles_and_traces_with_the_destination(
    fixtures: Assembly,
) -> None:
    for name, tracing in ((BACKFILL, False), (EXISTING, True)):
        template = fixtures.templates[name]
        machine = resource(template, "Backfill/StateMachine")["Properties"]

        assert machine["LoggingConfiguration"] == {
            "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": arn(template, "Backfill/StateMachineLogGroup")}}
            ],
            "IncludeExecutionData": False,
            "Level": "ALL",
        }
        assert machine["TracingConfiguration"] == {"Enabled": tracing}, name


def test_worker_is_the_exporters_package_runtime_and_settings_with_the_backfill_handler(fixtures: Assembly) -> None:
    for name in (BACKFILL, EXISTING, ASSUME_ROLE):
        template = fixtures.templates[name]
        exporter = template["Resources"][FUNCTION_LOGICAL_ID]
        worker = template["Resources"]["BackfillFunction"]

        assert worker["Properties"]["Handler"] == "kinesis_export.handlers.backfill.handler"
        for same in ("Code", "Runtime", "Architectures", "Layers", "MemorySize", "Timeout"):
            assert worker["Properties"][same] == exporter["Properties"][same], f"{name}: {same}"
        assert worker["Properties"].get("TracingConfig") == exporter["Properties"].get("TracingConfig"), name
        assert worker["Metadata"]["aws:asset:path"] == exporter["Metadata"]["aws:asset:path"], name
        # the exporter's variables, but for the queues: the worker reports rejects in its result, and its
        # items are lines of a file, not messages to continue
        variables = dict(exporter["Properties"]["Environment"]["Variables"])
        del variables["REJECTS_QUEUE_URL"], variables["INGEST_QUEUE_URL"]
        assert worker["Properties"]["Environment"]["Variables"] == variables, name
        assert worker["Properties"]["LoggingConfig"] == {
            "LogFormat": "JSON",
            "LogGroup": {"Ref": logical_id(template, "Backfill/WorkerLogGroup")},
        }
        # fixed, like the exporter's, so that `sam local invoke BackfillFunction` can name it
        assert logical_id(template, "Backfill/Worker") == "BackfillFunction"


def _worker_logs(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "Sid": "WriteLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": arn(template, "Backfill/WorkerLogGroup"),
    }


def test_worker_role_writes_to_the_stream_it_created(fixtures: Assembly) -> None:
    template = fixtures.templates[BACKFILL]

    assert inline_statements(template, "Backfill/WorkerRole") == [
        LIST_STREAMS,
        {
            "Sid": "WriteStream",
            "Effect": "Allow",
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Resource": arn(template, "Stream/Stream"),
        },
        _worker_logs(template),
        # with profileState: a backfill seeds the profiles' state (tests/infra/test_profiles.py)
        {
            "Sid": "KeepProfileState",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:PutItem"],
            "Resource": arn(template, "Profiles/Table"),
        },
    ]
    assert attached_statements(template, "Backfill/WorkerRole") == []


def test_worker_role_writes_to_an_existing_stream_with_its_customer_key_and_traces(fixtures: Assembly) -> None:
    template = fixtures.templates[EXISTING]

    assert inline_statements(template, "Backfill/WorkerRole") == [
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
        _worker_logs(template),
    ]
    assert attached_statements(template, "Backfill/WorkerRole") == [[XRAY]]


def test_worker_role_in_assume_role_mode_may_only_assume_the_role(fixtures: Assembly) -> None:
    template = fixtures.templates[ASSUME_ROLE]

    assert inline_statements(template, "Backfill/WorkerRole") == [
        {
            "Sid": "AssumeStreamRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::222233334444:role/partners/KinesisExportWriter",
        },
        _worker_logs(template),
    ]
    assert attached_statements(template, "Backfill/WorkerRole") == []


def _distributed_map_statements(*arn_start: str | dict[str, str]) -> list[dict[str, Any]]:
    """What CDK's DistributedMapPolicy holds: start this state machine's child executions, describe,
    stop and redrive them; nothing of another state machine's. `arn_start` is the executions' ARN up
    to the state machine's name, as the stack writes it."""

    def executions(suffix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [*arn_start, STATE_MACHINE_NAME, suffix]]}

    return [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": STATE_MACHINE},
        {
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            "Effect": "Allow",
            "Resource": executions(":*"),
        },
        {"Action": "states:RedriveExecution", "Effect": "Allow", "Resource": executions("/*:*")},
    ]


def test_state_machine_role_reads_files_under_the_prefix_writes_results_and_runs_the_worker(
    fixtures: Assembly,
) -> None:
    template = fixtures.templates[BACKFILL]

    # its own statements: the backfill prefix and the results prefix, never the whole bucket
    assert inline_statements(template, "Backfill/StateMachineRole") == [
        {"Sid": "ReadFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": _objects("backfill/")},
        {
            "Sid": "WriteResults",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"],
            "Resource": _objects("results/"),
        },
    ]
    # and what CDK adds: invoke the worker (default policy, with log delivery), and the Distributed
    # Map's own policy on this state machine's executions (an environment-agnostic stack)
    default_policy, distributed_map = attached_statements(template, "Backfill/StateMachineRole")
    assert default_policy == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [WORKER_ARN, {"Fn::Join": ["", [WORKER_ARN, ":*"]]}],
        },
        LOG_DELIVERY,
    ]
    assert distributed_map == _distributed_map_statements(
        "arn:",
        {"Ref": "AWS::Partition"},
        ":states:",
        {"Ref": "AWS::Region"},
        ":",
        {"Ref": "AWS::AccountId"},
        ":execution:",
    )


def test_state_machine_role_with_a_custom_prefix_and_tracing(fixtures: Assembly) -> None:
    # an assumeRole destination with prefix imports/partner/, in eu-west-1 and account 111122223333
    template = fixtures.templates[ASSUME_ROLE]

    [read, _] = inline_statements(template, "Backfill/StateMachineRole")
    assert read["Resource"] == _objects("imports/partner/")
    default_policy, distributed_map = attached_statements(template, "Backfill/StateMachineRole")
    assert default_policy[1] == LOG_DELIVERY
    assert distributed_map == _distributed_map_statements("arn:aws:states:eu-west-1:111122223333:execution:")

    # an existing stream's destination with tracing on: X-Ray joins the log delivery statement
    default_policy, _ = attached_statements(fixtures.templates[EXISTING], "Backfill/StateMachineRole")
    assert default_policy[1] == LOG_DELIVERY_AND_XRAY


def test_event_bridge_may_only_start_the_state_machine(fixtures: Assembly) -> None:
    template = fixtures.templates[BACKFILL]

    role = resource(template, "Backfill/StateMachine/EventsRole")["Properties"]

    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}
    ]
    assert "Policies" not in role
    assert attached_statements(template, "Backfill/StateMachine/EventsRole") == [
        [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": STATE_MACHINE}]
    ]


def test_outputs_name_the_bucket_where_to_put_files_and_the_state_machine(fixtures: Assembly) -> None:
    outputs = fixtures.templates[ASSUME_ROLE]["Outputs"]

    assert outputs["BackfillBucketName"]["Value"] == BUCKET
    assert outputs["BackfillUri"]["Value"] == {"Fn::Join": ["", ["s3://", BUCKET, "/imports/partner/"]]}
    assert outputs["BackfillStateMachineArn"]["Value"] == STATE_MACHINE


def test_every_backfill_acknowledgement_names_its_finding(fixtures: Assembly) -> None:
    # given the backfill fixture: executionRole, tracing off, an environment-agnostic stack
    acknowledged = {
        path: rules for path, rules in fixtures.acknowledged(BACKFILL).items() if path.startswith("Backfill/")
    }

    executions = (
        "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        '{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"BackfillStateMachine"}]}]}'
    )
    assert acknowledged == {
        "Backfill/Bucket": {"AwsSolutions-S1"},
        "Backfill/FileRule": {"Serverless-EventBusDLQ"},
        "Backfill/WorkerRole/Resource": {"AwsSolutions-IAM5[Resource::*]", "Serverless-LambdaStarPermissions"},
        "Backfill/Worker": {"Serverless-LambdaDLQ", "Serverless-LambdaTracing"},
        "Backfill/StateMachineRole/Resource": {
            "AwsSolutions-IAM5[Resource::<BackfillBucket.Arn>/backfill/*]",
            "AwsSolutions-IAM5[Resource::<BackfillBucket.Arn>/results/*]",
        },
        "Backfill/StateMachineRole/DefaultPolicy/Resource": {
            "AwsSolutions-IAM5[Resource::<BackfillFunction.Arn>:*]",
            "AwsSolutions-IAM5[Resource::*]",
        },
        "Backfill/StateMachine/DistributedMapPolicy/Resource": {
            f"AwsSolutions-IAM5[Resource::{executions}:*]",
            f"AwsSolutions-IAM5[Resource::{executions}/*:*]",
        },
        "Backfill/StateMachine": {"AwsSolutions-SF2", "Serverless-StepFunctionStateMachineXray"},
    }


def test_fixture_configs_enable_the_backfill_the_tests_describe() -> None:
    backfill = load_config(FIXTURES / "backfill.json")
    assert backfill.backfill is not None and backfill.backfill.max_concurrency is None
    assert backfill.stream.create and backfill.stream.shards == 3
    assert load_config(FIXTURES / "existing-stream.json").function.tracing is True
