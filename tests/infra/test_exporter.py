"""The exporter's wiring: queues, the event source mapping, the function and the optional EventBridge rule."""

from __future__ import annotations

from typing import Any

from infra.constants import POWERTOOLS_LAYER_VERSION
from infra.exporter import EVENT_BRIDGE_MESSAGE_GROUP, FUNCTION_LOGICAL_ID, RETENTION_DAYS
from kinesis_export.config import LOG_RETENTION_DAYS, AccessKey, AssumeRole, load_config
from tests.infra.conftest import FIXTURES, Assembly
from tests.infra.templates import (
    EXAMPLE,
    EXISTING,
    FIFO,
    PROVISIONED,
    arn,
    inline_statements,
    logical_id,
    of_type,
    ref,
    resource,
)
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
            queues = [_construct_path(template, name) for name in of_type(template, "AWS::SQS::Queue")]
            assert {"Exporter/IngestQueue", "Exporter/DeadLetterQueue", "Exporter/RejectsQueue"} <= set(queues)
            for queue in queues:
                assert resource(template, queue)["Properties"]["SqsManagedSseEnabled"] is True
                assert _denies_plain_http(template, queue), queue


def _construct_path(template: dict[str, Any], logical: str) -> str:
    """A resource's construct path below its stack, without the trailing /Resource (Exporter/IngestQueue)."""
    path: str = template["Resources"][logical]["Metadata"]["aws:cdk:path"]
    return path.split("/", 1)[1].removesuffix("/Resource")


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


def test_standard_ingest_queues_are_not_fifo(example: Assembly, fixtures: Assembly) -> None:
    for template in [example.templates[EXAMPLE], fixtures.templates[EXISTING], fixtures.templates[PROVISIONED]]:
        for queue in of_type(template, "AWS::SQS::Queue").values():
            assert not {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope"} & queue["Properties"].keys()


def test_fifo_ingest_queue_deduplicates_by_content_with_a_fifo_dead_letter_queue(fixtures: Assembly) -> None:
    # given a config with ingest.fifo and maxReceiveCount 4
    template = fixtures.templates[FIFO]

    ingest = resource(template, "Exporter/IngestQueue")["Properties"]
    dead_letters = resource(template, "Exporter/DeadLetterQueue")["Properties"]
    rejects = resource(template, "Exporter/RejectsQueue")["Properties"]

    # then the ingest queue is FIFO, takes a producer's message without a deduplication id, in high
    # throughput mode (per message group), and no name is given: CloudFormation names it .fifo
    assert {key: ingest[key] for key in ingest.keys() - {"Tags"}} == {
        "FifoQueue": True,
        "ContentBasedDeduplication": True,
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
        "RedrivePolicy": {"deadLetterTargetArn": arn(template, "Exporter/DeadLetterQueue"), "maxReceiveCount": 4},
        "SqsManagedSseEnabled": True,
        "VisibilityTimeout": 6 * 60,  # six function timeouts, and no batching window
    }
    # and its dead-letter queue is FIFO, as SQS requires; the rejects queue, which the function sends to
    # without a message group, stays standard
    assert dead_letters["FifoQueue"] is True
    assert "FifoQueue" not in rejects


def test_fifo_event_source_takes_batches_of_ten_without_a_window(fixtures: Assembly) -> None:
    template = fixtures.templates[FIFO]

    [mapping] = of_type(template, "AWS::Lambda::EventSourceMapping").values()

    assert mapping["Properties"]["BatchSize"] == 10
    assert "MaximumBatchingWindowInSeconds" not in mapping["Properties"]  # Lambda has none for FIFO queues
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_fifo_function_never_continues_a_message_to_the_ingest_queue(fixtures: Assembly) -> None:
    template = fixtures.templates[FIFO]

    variables = template["Resources"][FUNCTION_LOGICAL_ID]["Properties"]["Environment"]["Variables"]
    statements = inline_statements(template, "Exporter/Role")

    assert "INGEST_QUEUE_URL" not in variables
    assert "REJECTS_QUEUE_URL" in variables
    assert "ContinueLongMessages" not in [statement.get("Sid") for statement in statements]
    # nothing else lets it send to the ingest queue
    ingest = arn(template, "Exporter/IngestQueue")
    assert [s["Action"] for s in statements if s["Resource"] == ingest] == [
        ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
    ]


def test_fifo_rule_sends_in_one_fixed_message_group_and_parks_undelivered_events_in_a_standard_queue(
    fixtures: Assembly,
) -> None:
    # given a FIFO config with an EventBridge rule
    template = fixtures.templates[FIFO]

    rule = resource(template, "Exporter/SegmentQualificationRule")
    undelivered = resource(template, "Exporter/UndeliveredEventsQueue")["Properties"]

    # then every event it routes is in one message group (a rule's SQS target takes no JSON path there),
    # and what it cannot deliver waits in a standard queue: EventBridge takes no FIFO dead-letter queue
    assert rule["Properties"]["Targets"] == [
        {
            "Arn": arn(template, "Exporter/IngestQueue"),
            "DeadLetterConfig": {"Arn": arn(template, "Exporter/UndeliveredEventsQueue")},
            "Id": "Target0",
            "SqsParameters": {"MessageGroupId": EVENT_BRIDGE_MESSAGE_GROUP},
        }
    ]
    assert "FifoQueue" not in undelivered and undelivered["MessageRetentionPeriod"] == FOURTEEN_DAYS
    # and someone hears of it, and finds it among the outputs
    [alarm] = [
        a
        for a in of_type(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Dimensions"][0]["Value"]
        == {"Fn::GetAtt": [logical_id(template, "Exporter/UndeliveredEventsQueue"), "QueueName"]}
    ]
    assert alarm["Properties"]["Threshold"] == 1
    assert template["Outputs"]["UndeliveredEventsQueueUrl"]["Value"] == ref(template, "Exporter/UndeliveredEventsQueue")


def test_a_standard_rule_has_no_message_group_and_no_queue_of_its_own(fixtures: Assembly) -> None:
    for name in (EXISTING, PROVISIONED):
        template = fixtures.templates[name]
        rule = resource(template, "Exporter/SegmentQualificationRule")
        assert "SqsParameters" not in rule["Properties"]["Targets"][0]
        assert "UndeliveredEventsQueueUrl" not in template["Outputs"]


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
    fifo = load_config(FIXTURES / "fifo.json")
    assert fifo.ingest.fifo and fifo.event_bridge is not None and fifo.profile_state is not None


def test_every_log_retention_the_config_accepts_has_a_cloudwatch_value() -> None:
    assert sorted(RETENTION_DAYS) == sorted(LOG_RETENTION_DAYS)
