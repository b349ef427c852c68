"""The exporter's wiring: queues, the event source mapping, the function and the optional EventBridge rule."""

from __future__ import annotations

from typing import Any

from infra.constants import POWERTOOLS_LAYER_VERSION
from infra.exporter import FUNCTION_LOGICAL_ID, RETENTION_DAYS
from kinesis_export.config import LOG_RETENTION_DAYS, AccessKey, AssumeRole, load_config
from tests.infra.conftest import FIXTURES, Assembly
from tests.infra.templates import EXAMPLE, EXISTING, PROVISIONED, arn, logical_id, of_type, ref, resource
from tests.support import EXAMPLE_CONFIG

FOURTEEN_DAYS = 14 * 24 * 3600


def _denies_plain_http(template: dict[str, Any], queue_path: str) -> bool:
    queue = logical_id(template, queue_path)
    for policy in of_type(template, "AWS::SQS::QueuePolicy").values():
        if policy["Properties"]["Queues"] == [{"Ref": queue}]:
            return {
                "Action": "sqs:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Resource": {"Fn::GetAtt": [queue, "Arn"]},
            } in policy["Properties"]["PolicyDocument"]["Statement"]
    return False


def test_every_queue_is_encrypted_and_refuses_plain_http(assemblies: list[Assembly]) -> None:
    for assembly in assemblies:
        for template in assembly.export_templates.values():
            for queue in ("Exporter/IngestQueue", "Exporter/DeadLetterQueue", "Exporter/RejectsQueue"):
                assert resource(template, queue)["Properties"]["SqsManagedSseEnabled"] is True
                assert _denies_plain_http(template, queue), queue


def test_ingest_queue_redrives_to_the_dead_letter_queue_after_max_receive_count(example: Assembly) -> None:
    template = example.templates[EXAMPLE]

    ingest = resource(template, "Exporter/IngestQueue")["Properties"]

    assert ingest["RedrivePolicy"] == {
        "deadLetterTargetArn": arn(template, "Exporter/DeadLetterQueue"),
        "maxReceiveCount": 5,
    }
    # six function timeouts (60 s by default) plus the batching window (1 s)
    assert ingest["VisibilityTimeout"] == 6 * 60 + 1
    for parked in ("Exporter/DeadLetterQueue", "Exporter/RejectsQueue"):
        assert resource(template, parked)["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS
        assert "RedrivePolicy" not in resource(template, parked)["Properties"]


def test_configured_ingest_settings_reach_the_queue_and_the_event_source(fixtures: Assembly) -> None:
    # given batch size 100, a 5 s window, 3 receives, concurrency 4 and a 120 s timeout
    template = fixtures.templates[EXISTING]

    ingest = resource(template, "Exporter/IngestQueue")["Properties"]
    [mapping] = of_type(template, "AWS::Lambda::EventSourceMapping").values()

    assert ingest["RedrivePolicy"]["maxReceiveCount"] == 3
    assert ingest["VisibilityTimeout"] == 6 * 120 + 5
    assert mapping["Properties"] == {
        "BatchSize": 100,
        "EventSourceArn": arn(template, "Exporter/IngestQueue"),
        "FunctionName": {"Ref": FUNCTION_LOGICAL_ID},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumBatchingWindowInSeconds": 5,
        "ScalingConfig": {"MaximumConcurrency": 4},
        "Tags": mapping["Properties"]["Tags"],
    }


def test_default_event_source_batches_for_throughput(example: Assembly) -> None:
    template = example.templates[EXAMPLE]

    [mapping] = of_type(template, "AWS::Lambda::EventSourceMapping").values()

    assert mapping["Properties"]["BatchSize"] == 500
    assert mapping["Properties"]["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 10}


def test_function_is_arm64_python_with_the_pinned_powertools_layer(example: Assembly) -> None:
    template = example.templates[EXAMPLE]
    config = load_config(EXAMPLE_CONFIG)

    function = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]

    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "kinesis_export.handlers.export.handler"
    assert function["MemorySize"] == config.function.memory_mb
    assert function["Timeout"] == config.function.timeout_seconds
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": ref(template, "Exporter/LogGroup")}
    assert "TracingConfig" not in function  # tracing off: Lambda's default, PassThrough
    # the region comes from the deploying stack, so an environment-agnostic template works
    assert function["Layers"] == [
        {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":lambda:",
                    {"Ref": "AWS::Region"},
                    f":017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:{POWERTOOLS_LAYER_VERSION}",
                ],
            ]
        }
    ]
    assert function["Environment"]["Variables"] == {
        "DESTINATION_CONFIG_FILE": "destination.json",
        "REJECTS_QUEUE_URL": ref(template, "Exporter/RejectsQueue"),
        "INGEST_QUEUE_URL": ref(template, "Exporter/IngestQueue"),
        "POWERTOOLS_METRICS_NAMESPACE": "KinesisExport",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    assert (
        resource(template, "Exporter/LogGroup")["Properties"]["RetentionInDays"] == config.function.log_retention_days
    )


def test_configured_function_settings_and_tracing_reach_the_function(fixtures: Assembly) -> None:
    template = fixtures.templates[EXISTING]

    function = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]

    assert function["MemorySize"] == 1024
    assert function["Timeout"] == 120
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert resource(template, "Exporter/LogGroup")["Properties"]["RetentionInDays"] == 90
    # no endpoint is given for the stream in eu-west-1: botocore resolves it (FIPS, dual-stack, partitions)
    assert not any(name.startswith("AWS_ENDPOINT_URL") for name in function["Environment"]["Variables"])


def test_event_bridge_rule_routes_segment_qualifications_from_the_named_bus(fixtures: Assembly) -> None:
    # given a config with eventBridge.busName "segments"
    template = fixtures.templates[EXISTING]

    rule_id = logical_id(template, "Exporter/SegmentQualificationRule")
    rule = template["Resources"][rule_id]

    assert rule["Properties"]["EventBusName"] == "segments"
    assert rule["Properties"]["EventPattern"] == {"detail-type": ["Segment Qualification"]}
    assert rule["Properties"]["Targets"] == [
        {
            "Arn": arn(template, "Exporter/IngestQueue"),
            "DeadLetterConfig": {"Arn": arn(template, "Exporter/DeadLetterQueue")},
            "Id": "Target0",
        }
    ]
    # and only this rule may send to the ingest queue
    ingest = logical_id(template, "Exporter/IngestQueue")
    [policy] = [
        p for p in of_type(template, "AWS::SQS::QueuePolicy").values() if p["Properties"]["Queues"] == [{"Ref": ingest}]
    ]
    assert {
        "Action": ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
        "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Resource": {"Fn::GetAtt": [ingest, "Arn"]},
    } in policy["Properties"]["PolicyDocument"]["Statement"]


def test_event_bridge_rule_defaults_to_the_default_bus(fixtures: Assembly) -> None:
    [rule] = of_type(fixtures.templates[PROVISIONED], "AWS::Events::Rule").values()

    assert rule["Properties"]["EventBusName"] == "default"


def test_no_event_bridge_rule_without_event_bridge_config(example: Assembly) -> None:
    assert load_config(EXAMPLE_CONFIG).event_bridge is None
    assert of_type(example.templates[EXAMPLE], "AWS::Events::Rule") == {}


def test_fixture_configs_are_the_ones_the_tests_describe() -> None:
    assert load_config(FIXTURES / "existing-stream.json").stream.create is False
    assert load_config(FIXTURES / "provisioned-stream.json").stream.shards == 2
    assume_role = load_config(FIXTURES / "assume-role.json")
    assert isinstance(assume_role.credentials, AssumeRole)
    assert assume_role.credentials.exporter_account_id != assume_role.credentials.role_account_id
    assert assume_role.stream.region is not None and assume_role.stream.kms_key_arn is not None
    assert isinstance(load_config(FIXTURES / "access-key.json").credentials, AccessKey)


def test_every_log_retention_the_config_accepts_has_a_cloudwatch_value() -> None:
    assert sorted(RETENTION_DAYS) == sorted(LOG_RETENTION_DAYS)
