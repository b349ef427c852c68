"""The stacks deployed for real onto the local cloud, and events through what the deployment made.

Each test synthesizes its destination with the pinned aws-cdk CLI, deploys it onto the local cloud
(kinesis_export_cli.localcloud), checks every deployed resource against the template, and runs the
sample events through the deployed function's code, as `make local-deploy` does. A wrong wiring (an
environment variable the function does not read, a queue it cannot find) fails here, where a
template test would pass.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kinesis_export_cli.demo import sample_bodies
from kinesis_export_cli.localcloud import local_cloud
from kinesis_export_cli.localdeploy import Cloud, DeployFailed, Stack, cdk, deploy, outputs, run_samples, synthesize
from tests.support import EXAMPLE_CONFIG, ROOT

pytestmark = pytest.mark.skipif(
    not (ROOT / "node_modules" / ".bin" / "cdk").exists() or shutil.which("node") is None,
    reason="the aws-cdk CLI is not installed (npm ci)",
)

FIXTURES = ROOT / "tests" / "infra" / "fixtures"
BOOTSTRAP_TEMPLATE = ROOT / "node_modules" / "aws-cdk" / "lib" / "api" / "bootstrap" / "bootstrap-template.yaml"
BODIES = sample_bodies(ROOT / "events")


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with local_cloud() as endpoint:
        yield Cloud(endpoint)


def _assembly(cloud: Cloud, tmp_path: Path, *configs: Path | dict[str, Any]) -> list[Stack]:
    """The CLI's synthesis of these configs (files, or documents written to files), in deployment order."""
    folder = tmp_path / "destinations"
    folder.mkdir()
    for number, config in enumerate(configs):
        text = config.read_text(encoding="utf-8") if isinstance(config, Path) else json.dumps(config)
        (folder / f"{number}.json").write_text(text, encoding="utf-8")
    return synthesize(cloud, folder, tmp_path / "assembly")


def _bootstrap_with_the_clis_template(cloud: Cloud, account: str, region: str) -> None:
    """What `cdk bootstrap` deploys, deployed directly: the same template, in a second instead of fifteen."""
    cloud.client("cloudformation", account, region).create_stack(
        StackName="CDKToolkit",
        TemplateBody=BOOTSTRAP_TEMPLATE.read_text(encoding="utf-8"),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )


def _assert_deployed_as_templated(cloud: Cloud, stack: Stack) -> dict[str, str]:
    """Every resource of the template exists, of its type, and the ones the pipeline's wiring rests on hold
    what the template says: functions, their environment and mapping, queues and their redrive, roles,
    alarms and the topic they notify, its policy and subscriptions. Returns the physical IDs by logical ID."""
    cloudformation = cloud.client("cloudformation", stack.account, stack.region)
    summaries = cloudformation.list_stack_resources(StackName=stack.name)["StackResourceSummaries"]
    deployed = {s["LogicalResourceId"]: (s["ResourceType"], s["PhysicalResourceId"]) for s in summaries}
    templated = {name: resource["Type"] for name, resource in stack.template["Resources"].items()}
    assert {name: kind for name, (kind, _) in deployed.items()} == templated
    assert all(physical for _, physical in deployed.values())
    physical = {name: physical_id for name, (_, physical_id) in deployed.items()}

    lambda_ = cloud.client("lambda", stack.account, stack.region)
    cloudwatch = cloud.client("cloudwatch", stack.account, stack.region)
    pseudo = {"AWS::AccountId": stack.account, "AWS::Region": stack.region, "AWS::Partition": "aws"}

    def value(template_value: Any) -> Any:
        """A property's deployed value: a literal, a Ref's physical ID (or a pseudo parameter's value), a
        function's or an alarm's ARN; in a list or an object (a policy document), each of its values."""
        if isinstance(template_value, list):
            return [value(v) for v in template_value]
        if isinstance(template_value, dict) and set(template_value) == {"Ref"}:
            name = template_value["Ref"]
            return pseudo[name] if name in pseudo else physical[name]
        if isinstance(template_value, dict) and set(template_value) == {"Fn::GetAtt"}:
            target, attribute = template_value["Fn::GetAtt"]
            if (templated[target], attribute) == ("AWS::CloudWatch::Alarm", "Arn"):
                [alarm] = cloudwatch.describe_alarms(AlarmNames=[physical[target]])["MetricAlarms"]
                return alarm["AlarmArn"]
            assert (templated[target], attribute) == ("AWS::Lambda::Function", "Arn")
            return lambda_.get_function_configuration(FunctionName=physical[target])["FunctionArn"]
        if isinstance(template_value, dict):
            assert not any(key.startswith("Fn::") for key in template_value), template_value
            return {key: value(v) for key, v in template_value.items()}
        return template_value

    sqs = cloud.client("sqs", stack.account, stack.region)
    iam = cloud.client("iam", stack.account, stack.region)
    sns = cloud.client("sns", stack.account, stack.region)
    for name, resource in stack.template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::Function":
            configuration = lambda_.get_function_configuration(FunctionName=physical[name])
            assert configuration["Handler"] == properties["Handler"]
            assert configuration["Timeout"] == properties.get("Timeout", 3)
            assert configuration["MemorySize"] == properties.get("MemorySize", 128)
            variables = properties.get("Environment", {}).get("Variables", {})
            assert configuration.get("Environment", {}).get("Variables", {}) == {
                key: value(v) for key, v in variables.items()
            }
        elif resource["Type"] == "AWS::Lambda::EventSourceMapping":
            [mapping] = lambda_.list_event_source_mappings(FunctionName=value(properties["FunctionName"]))[
                "EventSourceMappings"
            ]
            assert mapping["BatchSize"] == properties["BatchSize"]
            # none from a FIFO queue: Lambda takes no window there, and the template leaves it out
            window = "MaximumBatchingWindowInSeconds"
            assert mapping.get(window, 0) == properties.get(window, 0)
            assert mapping["FunctionResponseTypes"] == properties["FunctionResponseTypes"]
        elif resource["Type"] == "AWS::SQS::Queue":
            attributes = sqs.get_queue_attributes(QueueUrl=physical[name], AttributeNames=["All"])["Attributes"]
            if "VisibilityTimeout" in properties:
                assert int(attributes["VisibilityTimeout"]) == properties["VisibilityTimeout"]
            if "MessageRetentionPeriod" in properties:
                assert int(attributes["MessageRetentionPeriod"]) == properties["MessageRetentionPeriod"]
            assert attributes.get("FifoQueue", "false") == str(properties.get("FifoQueue", False)).lower()
            if "RedrivePolicy" in properties:
                redrive = json.loads(attributes["RedrivePolicy"])
                assert redrive["maxReceiveCount"] == properties["RedrivePolicy"]["maxReceiveCount"]
                [dead_letter] = properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][:1]
                assert redrive["deadLetterTargetArn"].endswith(":" + physical[dead_letter].rsplit("/", 1)[-1])
        elif resource["Type"] == "AWS::SQS::QueuePolicy":
            for queue in properties["Queues"]:
                attributes = sqs.get_queue_attributes(QueueUrl=value(queue), AttributeNames=["Policy"])
                assert json.loads(attributes["Attributes"]["Policy"])["Statement"]
        elif resource["Type"] == "AWS::IAM::Role":
            role = iam.get_role(RoleName=physical[name])["Role"]
            assert role["Path"] == properties.get("Path", "/")
        elif resource["Type"] == "AWS::CloudWatch::Alarm":
            [alarm] = cloudwatch.describe_alarms(AlarmNames=[physical[name]])["MetricAlarms"]
            assert (alarm["Namespace"], alarm["MetricName"]) == (properties["Namespace"], properties["MetricName"])
            # the topic it notifies, the stack's own (a Ref) or the configured one (an ARN)
            assert alarm["AlarmActions"] == value(properties.get("AlarmActions", []))
            assert alarm["OKActions"] == value(properties.get("OKActions", []))
        elif resource["Type"] == "AWS::SNS::Topic":
            attributes = sns.get_topic_attributes(TopicArn=physical[name])["Attributes"]
            assert attributes["DisplayName"] == properties.get("DisplayName", "")
        elif resource["Type"] == "AWS::SNS::TopicPolicy":
            # the document as templated, the alarms' ARNs resolved, in place of SNS's default policy
            for topic in properties["Topics"]:
                attributes = sns.get_topic_attributes(TopicArn=value(topic))["Attributes"]
                assert json.loads(attributes["Policy"]) == value(properties["PolicyDocument"])
        elif resource["Type"] == "AWS::SNS::Subscription":
            listed = sns.list_subscriptions_by_topic(TopicArn=value(properties["TopicArn"]))["Subscriptions"]
            [subscription] = [s for s in listed if s["SubscriptionArn"] == physical[name]]
            assert (subscription["Protocol"], subscription["Endpoint"]) == (
                properties["Protocol"],
                properties["Endpoint"],
            )
    return physical


def test_the_example_deploys_with_the_cli_and_its_function_exports_the_samples(cloud: Cloud, tmp_path: Path) -> None:
    # given the example destination, synthesized by the CLI
    [stack] = _assembly(cloud, tmp_path, EXAMPLE_CONFIG)

    # when the CLI bootstraps the environment and deploys the stack
    stack_outputs = deploy(cloud, stack, tmp_path / "assembly", set())

    # then every resource is there as the template says, and so are the outputs
    _assert_deployed_as_templated(cloud, stack)
    assert set(stack_outputs) == set(stack.template["Outputs"])
    assert stack_outputs["StreamName"] == "segment-exports"
    # and every alarm notifies the stack's topic when it fires and when it clears
    alarms = cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]
    topic = (stack_outputs["AlarmTopicArn"],)
    assert {(tuple(a["AlarmActions"]), tuple(a["OKActions"])) for a in alarms} == {(topic, topic)}

    # and the deployed function, fed as its mapping says, exports the samples as `make demo` does
    run = run_samples(cloud, stack, stack_outputs, BODIES)
    assert run.summary() == {
        "sent": 7,
        "invocations": 1,
        "function errors": 0,
        "message failures": 0,
        "records": 6,
        "rejected": 3,
        "dead letters": 0,
    }
    assert sorted(m["MessageAttributes"]["errorCode"]["StringValue"] for m in run.rejects) == [
        "INVALID_EVENT",
        "INVALID_EVENT",
        "INVALID_JSON",
    ]
    assert {record.partition_key for record in run.records} <= {
        identity["id"]
        for record in run.records
        for identities in record.json()["identityMap"].values()
        for identity in identities
    }

    # and a second deploy finds nothing to change
    again = cdk(cloud, ["deploy", "--app", str(tmp_path / "assembly"), stack.name, "--require-approval", "never"])
    assert "(no changes)" in again

    # and a changed config deploys as an update of the same stack, e-mail subscriptions added to its topic
    changed = json.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8")) | {
        "function": {"memoryMb": 1024},
        "alarms": {"email": ["oncall@example.com", "data-platform@example.com"]},
    }
    (tmp_path / "changed").mkdir()
    [update] = _assembly(cloud, tmp_path / "changed", changed)
    assert deploy(cloud, update, tmp_path / "changed" / "assembly", {(stack.account, stack.region)}) == stack_outputs
    configuration = cloud.client("lambda").get_function_configuration(FunctionName=stack_outputs["FunctionName"])
    assert configuration["MemorySize"] == 1024
    _assert_deployed_as_templated(cloud, update)
    subscribed = cloud.client("sns").list_subscriptions_by_topic(TopicArn=stack_outputs["AlarmTopicArn"])
    assert sorted(s["Endpoint"] for s in subscribed["Subscriptions"]) == sorted(changed["alarms"]["email"])


def test_a_fifo_destination_deploys_and_its_function_takes_the_samples_in_their_groups(
    cloud: Cloud, tmp_path: Path
) -> None:
    # given the FIFO fixture (its rule on a bus of its own, and profile state), synthesized by the CLI
    cloud.client("events").create_event_bus(Name="journeys")
    [stack] = _assembly(cloud, tmp_path, FIXTURES / "fifo.json")
    _bootstrap_with_the_clis_template(cloud, stack.account, stack.region)

    # when the CLI deploys it
    stack_outputs = deploy(cloud, stack, tmp_path / "assembly", {(stack.account, stack.region)})

    # then every resource is there as the template says: FIFO queues named .fifo, the rule's standard queue
    _assert_deployed_as_templated(cloud, stack)
    assert stack_outputs["IngestQueueUrl"].endswith(".fifo") and stack_outputs["DeadLetterQueueUrl"].endswith(".fifo")
    assert not stack_outputs["UndeliveredEventsQueueUrl"].endswith(".fifo")

    # and the samples, sent each with its profile as MessageGroupId, are exported by the deployed function
    # through its profile state table, fed ten at a time as its mapping says (the fixture exports ECID alone:
    # three samples have none)
    run = run_samples(cloud, stack, stack_outputs, BODIES)
    assert run.summary() == {
        "sent": 7,
        "invocations": 1,
        "function errors": 0,
        "message failures": 0,
        "records": 5,
        "rejected": 3,
        "dead letters": 0,
    }
    assert {tuple(record.json()["identityMap"]) for record in run.records} == {("ecid",)}
    # five, not four as without profileState: the array's second event names no mapped segment, and its profile,
    # in one since the first, is exported with its state (AEP's trigger), in its order
    array_profile = [r.json() for r in run.records if r.partition_key == "40518366571234567890123456789012345678"]
    assert [[entry["status"] for entry in record["segmentMembership"]["ups"].values()] for record in array_profile] == [
        ["realized"],
        ["realized"],
        ["exited"],
    ]


def test_an_assumed_role_destination_deploys_its_access_stack_first_and_writes_across_accounts(
    cloud: Cloud, tmp_path: Path
) -> None:
    # given the partner's stream in its account and region, and the assume-role destination that writes to it
    config = json.loads((FIXTURES / "assume-role.json").read_text(encoding="utf-8"))
    partner_account, exporter_account = "222233334444", config["credentials"]["exporterAccountId"]
    # (of 4 MiB records, as the config says: the deploy-time check reads it, with the assumed role)
    assert config["stream"]["maxRecordSizeKiB"] == 4096
    cloud.client("kinesis", partner_account, "eu-west-1").create_stream(
        StreamName="partner-segments", ShardCount=1, MaxRecordSizeInKiB=4096
    )
    # and, its alarms going to the exporter's own on-call topic, an existing one
    on_call = cloud.client("sns", exporter_account, "us-east-1").create_topic(Name="on-call")["TopicArn"]
    config["alarms"] = {"topicArn": on_call}
    stacks = _assembly(cloud, tmp_path, config)

    # when both stacks are deployed, in order, each into its own account and region
    assert [(s.name, s.account, s.region) for s in stacks] == [
        ("KinesisExportAccess-partner-cross-account", partner_account, "eu-west-1"),
        # the exporter runs in the deployment's region, and writes to the stream's across regions
        ("KinesisExport-partner-cross-account", exporter_account, "us-east-1"),
    ]
    for stack in stacks:
        _bootstrap_with_the_clis_template(cloud, stack.account, stack.region)
    access_outputs = deploy(cloud, stacks[0], tmp_path / "assembly", {(s.account, s.region) for s in stacks})
    export_outputs = deploy(cloud, stacks[1], tmp_path / "assembly", {(s.account, s.region) for s in stacks})

    # then each is deployed as templated, the access role is the one the config names
    _assert_deployed_as_templated(cloud, stacks[0])
    _assert_deployed_as_templated(cloud, stacks[1])
    assert access_outputs["RoleArn"] == config["credentials"]["roleArn"]
    # and the alarms notify the existing topic, which the stack leaves as it was
    assert export_outputs["AlarmTopicArn"] == on_call
    assert not [r for r in stacks[1].template["Resources"].values() if r["Type"].startswith("AWS::SNS::")]
    policy = cloud.client("sns", exporter_account, "us-east-1").get_topic_attributes(TopicArn=on_call)["Attributes"]
    assert [s["Sid"] for s in json.loads(policy["Policy"])["Statement"]] == ["__default_statement_ID"]

    # and the exporter, in its own account, writes the samples to the partner's stream through the role
    run = run_samples(cloud, stacks[1], export_outputs, BODIES)
    summary = run.summary()
    assert (summary["invocations"], summary["message failures"], summary["dead letters"]) == (1, 0, 0)
    assert summary["records"] > 0
    assert {tuple(record.json()["identityMap"]) for record in run.records} == {("ecid",)}
    assert outputs(cloud, stacks[1])["StreamArn"] == (
        f"arn:aws:kinesis:eu-west-1:{partner_account}:stream/partner-segments"
    )


def test_a_missing_stream_fails_the_deploy_with_the_checks_message(cloud: Cloud, tmp_path: Path) -> None:
    # given a destination whose existing stream does not exist
    config = json.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    config |= {"name": "missing-stream", "stream": {"name": "no-such-stream", "create": False}}
    [stack] = _assembly(cloud, tmp_path, config)
    _bootstrap_with_the_clis_template(cloud, stack.account, stack.region)

    # when it is deployed
    with pytest.raises(DeployFailed) as failed:
        deploy(cloud, stack, tmp_path / "assembly", {(stack.account, stack.region)})

    # then the deploy fails with the connection check's own message
    assert "no stream named 'no-such-stream' in us-east-1" in str(failed.value)
    status = cloud.client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0]["StackStatus"]
    assert status == "ROLLBACK_COMPLETE"
