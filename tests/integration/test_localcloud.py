"""The local cloud's extensions to moto (kinesis_export_cli/localcloud.py), one test each.

Each deploys a small template the way the aws-cdk CLI does (a change set, then its execution) and
checks what the extension promises; a moto upgrade that breaks one fails its test here.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from kinesis_export_cli.local import local_client
from kinesis_export_cli.localcloud import DeployedFunction, FunctionError, invoke, local_cloud

REGION = "us-east-1"
# Lambda's functions need a role that exists; IAM itself is not enforced.
ROLE = {"Fn::GetAtt": ["Role", "Arn"]}
ROLE_RESOURCE = {
    "Type": "AWS::IAM::Role",
    "Properties": {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    },
}

# A user function for CDK's Provider framework: answers with the number of queues it finds, or fails.
USER_FUNCTION = """
import boto3
def handler(event, context):
    if event["ResourceProperties"].get("Fail"):
        raise RuntimeError("stream.name: no stream named 'missing'")
    queues = boto3.client("sqs").list_queues().get("QueueUrls", [])
    return {"PhysicalResourceId": "checked", "Data": {"Queues": len(queues), "Request": event["RequestType"]}}
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[str]:
    with local_cloud() as endpoint:
        yield endpoint


def _client(endpoint: str, service: str) -> Any:
    return local_client(service, endpoint, REGION)


def _deploy(endpoint: str, name: str, resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> Any:
    """Create the stack through a change set, as `cdk deploy` does; its description afterwards."""
    cloudformation = _client(endpoint, "cloudformation")
    template = {"Resources": resources, "Outputs": outputs or {}}
    cloudformation.create_change_set(
        StackName=name, ChangeSetName="deploy", ChangeSetType="CREATE", TemplateBody=json.dumps(template)
    )
    cloudformation.execute_change_set(StackName=name, ChangeSetName="deploy")
    return cloudformation.describe_stacks(StackName=name)["Stacks"][0]


def _update(endpoint: str, name: str, template: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> Any:
    """Update the stack through a change set of the same name, as `cdk deploy` does; its description afterwards."""
    cloudformation = _client(endpoint, "cloudformation")
    cloudformation.delete_change_set(StackName=name, ChangeSetName="deploy")
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName="deploy",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(template),
        Parameters=parameters or [],
    )
    cloudformation.execute_change_set(StackName=name, ChangeSetName="deploy")
    return cloudformation.describe_stacks(StackName=name)["Stacks"][0]


def _provider(user_properties: dict[str, Any]) -> dict[str, Any]:
    """A custom resource behind CDK's Provider framework: the framework's function names the user function."""
    return {
        "Role": ROLE_RESOURCE,
        "UserFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "index.handler",
                "Role": ROLE,
                "Timeout": 30,
                "Code": {"ZipFile": USER_FUNCTION},
            },
        },
        "Framework": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "nodejs20.x",
                "Handler": "framework.onEvent",
                "Role": ROLE,
                "Code": {"ZipFile": "exports.onEvent = async () => {};"},
                "Environment": {"Variables": {"USER_ON_EVENT_FUNCTION_ARN": {"Fn::GetAtt": ["UserFunction", "Arn"]}}},
            },
        },
        # Listed before the queue it depends on: CloudFormation creates the queue first all the same.
        "Check": {
            "Type": "Custom::Check",
            "DependsOn": "Queue",
            "Properties": {"ServiceToken": {"Fn::GetAtt": ["Framework", "Arn"]}, **user_properties},
        },
        "Queue": {"Type": "AWS::SQS::Queue"},
    }


def test_an_alarm_is_created_and_a_dashboard_can_name_it(cloud: str) -> None:
    # given a queue, an alarm on its depth, and a dashboard whose body names the alarm's ARN
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Alarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "messages wait",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardBody": {
                    "Fn::Join": ["", ['{"widgets":[{"alarm":"', {"Fn::GetAtt": ["Alarm", "Arn"]}, '"}]}']]
                }
            },
        },
    }

    # when it is deployed
    stack = _deploy(cloud, "alarm", resources, {"AlarmArn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}}})

    # then the alarm exists as the template says, and the stack with it
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    # (this stack's: the module's tests share one cloud, and the topic policy's test has an alarm too)
    [alarm] = _client(cloud, "cloudwatch").describe_alarms(AlarmNamePrefix="alarm-Alarm-")["MetricAlarms"]
    assert stack["Outputs"] == [{"OutputKey": "AlarmArn", "OutputValue": alarm["AlarmArn"]}]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"][0]["Name"] == "QueueName"
    assert alarm["Dimensions"][0]["Value"].startswith("alarm-Queue-")
    assert (alarm["Threshold"], alarm["TreatMissingData"]) == (1.0, "notBreaching")


def test_a_queue_policy_is_set_on_its_queue(cloud: str) -> None:
    # given a queue and a policy that denies it anything but TLS
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sqs:*", "Resource": "*"}],
    }
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "Policy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": document},
        },
    }

    # when it is deployed
    stack = _deploy(cloud, "policy", resources, {"QueueUrl": {"Value": {"Ref": "Queue"}}})

    # then the queue holds the policy
    url = stack["Outputs"][0]["OutputValue"]
    attributes = _client(cloud, "sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
    assert json.loads(attributes["Policy"]) == document


def test_a_bucket_policy_is_set_on_its_bucket(cloud: str) -> None:
    # given a bucket and a policy that denies anything but TLS
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::policy-bucket/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    resources = {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "policy-bucket"}},
        "Policy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": document},
        },
    }

    # when it is deployed
    stack = _deploy(cloud, "bucket-policy", resources)

    # then the bucket holds the policy
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert json.loads(_client(cloud, "s3").get_bucket_policy(Bucket="policy-bucket")["Policy"]) == document


# With its properties written out: moto would replace a topic whose template gained an empty Properties.
TOPIC = {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "alarms"}}


def _topic_policy(sid: str) -> dict[str, Any]:
    """A topic policy that lets CloudWatch publish for one alarm of the stack."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": {"Ref": "Topic"},
                "Condition": {"ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": ["Alarm", "Arn"]}]}},
            }
        ],
    }


def _alarm_topic(sid: str) -> dict[str, Any]:
    """A topic, an alarm that notifies it, and the topic's policy naming the alarm."""
    return {
        "Topic": TOPIC,
        "Alarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Namespace": "KinesisExport",
                "MetricName": "EventsFailed",
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "AlarmActions": [{"Ref": "Topic"}],
                "OKActions": [{"Ref": "Topic"}],
            },
        },
        "Policy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {"Topics": [{"Ref": "Topic"}], "PolicyDocument": _topic_policy(sid)},
        },
    }


def test_a_topic_policy_replaces_its_topics_default_policy_and_follows_its_updates(cloud: str) -> None:
    # given a topic whose policy lets CloudWatch publish for the stack's alarm
    outputs = {"TopicArn": {"Value": {"Ref": "Topic"}}, "AlarmName": {"Value": {"Ref": "Alarm"}}}
    stack = _deploy(cloud, "topic-policy", _alarm_topic("PublishAlarms"), outputs)
    sns = _client(cloud, "sns")
    deployed = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    topic_arn, alarm_name = deployed["TopicArn"], deployed["AlarmName"]

    def policy() -> Any:
        return json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])

    # then the topic holds that policy, the alarm's ARN in its condition, in place of SNS's default
    [alarm] = _client(cloud, "cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    [statement] = policy()["Statement"]
    assert statement["Sid"] == "PublishAlarms"
    assert statement["Resource"] == topic_arn
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": [alarm["AlarmArn"]]}}
    assert (alarm["AlarmActions"], alarm["OKActions"]) == ([topic_arn], [topic_arn])

    # and when the policy changes, the topic holds the new one
    _update(cloud, "topic-policy", {"Resources": _alarm_topic("PublishAlarmsAgain"), "Outputs": outputs})
    assert [s["Sid"] for s in policy()["Statement"]] == ["PublishAlarmsAgain"]

    # and when it is removed, the topic has SNS's default policy again
    resources = {name: r for name, r in _alarm_topic("PublishAlarms").items() if name != "Policy"}
    _update(cloud, "topic-policy", {"Resources": resources, "Outputs": outputs})
    assert [s["Sid"] for s in policy()["Statement"]] == ["__default_statement_ID"]


def test_a_subscription_is_listed_with_its_topic_until_it_is_removed(cloud: str) -> None:
    # given a topic with an e-mail subscription
    subscription = {
        "Type": "AWS::SNS::Subscription",
        "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": "oncall@example.com"},
    }
    outputs = {"TopicArn": {"Value": {"Ref": "Topic"}}}
    stack = _deploy(cloud, "subscribed", {"Topic": TOPIC, "Email": subscription}, outputs)
    sns = _client(cloud, "sns")
    topic_arn = stack["Outputs"][0]["OutputValue"]

    # then the topic lists it, and the stack names it by its ARN
    [listed] = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert (listed["Protocol"], listed["Endpoint"]) == ("email", "oncall@example.com")
    resources = _client(cloud, "cloudformation").list_stack_resources(StackName="subscribed")["StackResourceSummaries"]
    [email] = [r for r in resources if r["LogicalResourceId"] == "Email"]
    assert email["PhysicalResourceId"] == listed["SubscriptionArn"]

    # and once removed from the template, it is gone
    _update(cloud, "subscribed", {"Resources": {"Topic": TOPIC}, "Outputs": outputs})
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []


def test_a_custom_resource_runs_its_user_function_after_what_it_depends_on(cloud: str) -> None:
    # given a Provider framework resource whose function counts the queues, listed before the queue it depends on
    resources = _provider({})

    # when it is deployed
    stack = _deploy(cloud, "custom", resources, {"Queues": {"Value": {"Fn::GetAtt": ["Check", "Queues"]}}})

    # then the user function ran in line, after the queue existed, and its answer is the resource's data
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert int(stack["Outputs"][0]["OutputValue"]) >= 1
    [check] = [
        r
        for r in _client(cloud, "cloudformation").list_stack_resources(StackName="custom")["StackResourceSummaries"]
        if r["LogicalResourceId"] == "Check"
    ]
    assert check["PhysicalResourceId"] == "checked"


def test_a_failing_custom_resource_fails_the_stack_with_its_message(cloud: str) -> None:
    # given a Provider framework resource whose function fails
    resources = _provider({"Fail": "yes"})

    # when it is deployed
    stack = _deploy(cloud, "failing", resources)

    # then the stack failed, and the resource's event carries the function's own message, as CloudFormation's does
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = _client(cloud, "cloudformation").describe_stack_events(StackName="failing")["StackEvents"]
    [failed] = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed["LogicalResourceId"] == "Check"
    assert failed["ResourceStatusReason"] == (
        "Received response status [FAILED] from custom resource. "
        "Message returned: stream.name: no stream named 'missing'"
    )
    # and reading the stack's resources does not run the failed one again
    summaries = _client(cloud, "cloudformation").list_stack_resources(StackName="failing")["StackResourceSummaries"]
    assert "Check" not in {r["LogicalResourceId"] for r in summaries}


def test_outputs_are_read_once_the_change_set_created_the_resources(cloud: str) -> None:
    # given a queue and an output of its URL
    resources = {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "outputs-queue"}}}

    # when it is deployed through a change set
    stack = _deploy(cloud, "outputs", resources, {"QueueUrl": {"Value": {"Ref": "Queue"}}})

    # then the output holds the queue's URL
    assert stack["Outputs"] == [
        {"OutputKey": "QueueUrl", "OutputValue": f"https://sqs.{REGION}.amazonaws.com/123456789012/outputs-queue"}
    ]


def test_a_stack_is_updated_through_a_second_change_set_of_the_same_name(cloud: str) -> None:
    # given a stack deployed through a change set, as the CLI names it
    cloudformation = _client(cloud, "cloudformation")
    _deploy(cloud, "updated", {"Queue": {"Type": "AWS::SQS::Queue"}})

    # when the CLI deletes that name again and waits until it is gone, before its update's change set
    cloudformation.delete_change_set(StackName="updated", ChangeSetName="deploy")
    with pytest.raises(cloudformation.exceptions.ChangeSetNotFoundException):
        cloudformation.describe_change_set(StackName="updated", ChangeSetName="deploy")
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Other": {"Type": "AWS::SQS::Queue"}}}
    cloudformation.create_change_set(
        StackName="updated", ChangeSetName="deploy", ChangeSetType="UPDATE", TemplateBody=json.dumps(template)
    )
    cloudformation.execute_change_set(StackName="updated", ChangeSetName="deploy")

    # then the stack is updated
    stack = cloudformation.describe_stacks(StackName="updated")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    resources = cloudformation.list_stack_resources(StackName="updated")["StackResourceSummaries"]
    assert {r["LogicalResourceId"] for r in resources} == {"Queue", "Other"}


def test_a_streams_maximum_record_size_is_taken_from_its_template(cloud: str) -> None:
    # moto_server's large-record extension (kinesis_export_cli.local.take_large_records), through CloudFormation
    kinesis = _client(cloud, "kinesis")

    def stream(max_record_size_kib: int | None) -> dict[str, Any]:
        properties = {"Name": "large-records", "ShardCount": 1}
        if max_record_size_kib:
            properties["MaxRecordSizeInKiB"] = max_record_size_kib
        return {"Stream": {"Type": "AWS::Kinesis::Stream", "Properties": properties}}

    def taken() -> int:
        summary = kinesis.describe_stream_summary(StreamName="large-records")["StreamDescriptionSummary"]
        return int(summary["MaxRecordSizeInKiB"])

    # given a stack whose stream takes 4 MiB records
    _deploy(cloud, "large-records", stream(4096))
    assert taken() == 4096

    # when the template raises it, then leaves it out, each in an update
    assert _update(cloud, "large-records", {"Resources": stream(10240)})["StackStatus"] == "UPDATE_COMPLETE"
    raised = taken()
    _update(cloud, "large-records", {"Resources": stream(None)})

    # then the stream takes what the template says, and 1 MiB without it
    assert (raised, taken()) == (10240, 1024)


def test_an_event_source_mapping_is_recorded_but_leaves_the_messages_to_the_poller(cloud: str) -> None:
    # given a queue, a function, and a mapping between them
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "mapped-queue"}},
        "Role": ROLE_RESOURCE,
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "index.handler",
                "Role": ROLE,
                "Code": {"ZipFile": "def handler(event, context):\n    return {}\n"},
            },
        },
        "Mapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                "FunctionName": {"Ref": "Function"},
                "BatchSize": 7,
            },
        },
    }
    stack = _deploy(cloud, "mapping", resources, {"FunctionName": {"Value": {"Ref": "Function"}}})
    sqs = _client(cloud, "sqs")
    url = sqs.get_queue_url(QueueName="mapped-queue")["QueueUrl"]

    # when a message is sent to the queue
    sqs.send_message(QueueUrl=url, MessageBody="{}")

    # then it waits in the queue (moto would have run the function in Docker), and the mapping is there to follow
    [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    function_name = stack["Outputs"][0]["OutputValue"]
    [mapping] = _client(cloud, "lambda").list_event_source_mappings(FunctionName=function_name)["EventSourceMappings"]
    assert mapping["BatchSize"] == 7


def test_a_fifo_queue_without_a_name_is_named_fifo_and_keeps_a_fifo_dead_letter_queue(cloud: str) -> None:
    # given a FIFO queue and its FIFO dead-letter queue, neither named, as CDK writes them
    resources = {
        "DeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
        "Ingest": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "FifoQueue": True,
                "ContentBasedDeduplication": True,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetters", "Arn"]}, "maxReceiveCount": 2},
            },
        },
    }

    # when the stack is deployed
    stack = _deploy(cloud, "fifo-queues-with-a-long-name" * 3, resources, {"Url": {"Value": {"Ref": "Ingest"}}})

    # then both are FIFO queues, named as CloudFormation names them, and a message needs its group
    url = stack["Outputs"][0]["OutputValue"]
    assert url.endswith(".fifo") and len(url.rsplit("/", 1)[1]) <= 80
    sqs = _client(cloud, "sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "true")
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(".fifo")
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="profile")


def test_cloudtrail_lookups_answer_with_no_events(cloud: str) -> None:
    # when the CLI asks CloudTrail about a failed deploy's resources, as it does
    answer = _client(cloud, "cloudtrail").lookup_events(LookupAttributes=[])

    # then it hears at once that there is nothing, instead of retrying on an error
    assert answer["Events"] == []


def test_a_custom_resource_update_runs_its_function_with_the_old_and_new_properties(cloud: str) -> None:
    # given a deployed Provider framework resource
    outputs = {"Request": {"Value": {"Fn::GetAtt": ["Check", "Request"]}}}
    _deploy(cloud, "custom-update", _provider({"Version": "1"}), outputs)

    # when a property changes
    stack = _update(cloud, "custom-update", {"Resources": _provider({"Version": "2"}), "Outputs": outputs})

    # then the function ran again, told it is an update
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["Outputs"][0]["OutputValue"] == "Update"


def test_a_failing_custom_resource_update_fails_the_stack_with_its_message(cloud: str) -> None:
    # given a deployed Provider framework resource
    _deploy(cloud, "custom-update-failing", _provider({}))

    # when an update makes its function fail
    stack = _update(cloud, "custom-update-failing", {"Resources": _provider({"Fail": "yes"})})

    # then the stack's update failed, with the function's message on the resource's event
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    events = _client(cloud, "cloudformation").describe_stack_events(StackName="custom-update-failing")["StackEvents"]
    [failed] = [e for e in events if e["ResourceStatus"] == "UPDATE_FAILED"]
    assert (failed["LogicalResourceId"], failed["ResourceStatusReason"]) == (
        "Check",
        "Received response status [FAILED] from custom resource. "
        "Message returned: stream.name: no stream named 'missing'",
    )


def test_an_update_keeps_an_ssm_parameter_and_a_functions_foreign_layer(cloud: str) -> None:
    # given a stack with CDK's bootstrap-version parameter and a function naming a layer of another account
    _client(cloud, "ssm").put_parameter(Name="/cdk-bootstrap/test/version", Value="30", Type="String")

    def template(memory: int) -> dict[str, Any]:
        function = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Handler": "index.handler",
                "Role": ROLE,
                "MemorySize": memory,
                "Layers": [
                    "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:38"
                ],
                "Code": {"ZipFile": "def handler(event, context):\n    return {}\n"},
            },
        }
        return {
            "Parameters": {
                "BootstrapVersion": {
                    "Type": "AWS::SSM::Parameter::Value<String>",
                    "Default": "/cdk-bootstrap/test/version",
                }
            },
            "Resources": {"Role": ROLE_RESOURCE, "Function": function},
            "Outputs": {"FunctionName": {"Value": {"Ref": "Function"}}},
        }

    cloudformation = _client(cloud, "cloudformation")
    cloudformation.create_change_set(
        StackName="layered", ChangeSetName="deploy", ChangeSetType="CREATE", TemplateBody=json.dumps(template(128))
    )
    cloudformation.execute_change_set(StackName="layered", ChangeSetName="deploy")

    # when the CLI updates it, keeping the parameter's previous value
    stack = _update(cloud, "layered", template(256), [{"ParameterKey": "BootstrapVersion", "UsePreviousValue": True}])

    # then the update went through
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    configuration = _client(cloud, "lambda").get_function_configuration(FunctionName=stack["Outputs"][0]["OutputValue"])
    assert configuration["MemorySize"] == 256


def _function(code: str, timeout_seconds: int = 3) -> DeployedFunction:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.py", code)
    return DeployedFunction(
        name="local-test",
        arn="arn:aws:lambda:us-east-1:123456789012:function:local-test",
        region=REGION,
        role="arn:aws:iam::123456789012:role/local-test",
        handler="index.handler",
        environment={},
        timeout_seconds=timeout_seconds,
        memory_mb=128,
        code=archive.getvalue(),
    )


def test_a_function_past_its_timeout_is_a_timeout_error(cloud: str) -> None:
    # given a function that never answers
    hanging = _function("import time\ndef handler(event, context):\n    time.sleep(3600)\n", timeout_seconds=1)

    # when it is invoked, then it fails as Lambda reports a timeout
    with pytest.raises(FunctionError) as failed:
        invoke(hanging, {}, cloud)
    assert failed.value.error_type == "Sandbox.Timedout"


def test_an_answer_json_cannot_hold_is_a_marshal_error(cloud: str) -> None:
    # given a function whose answer is not JSON
    unmarshallable = _function("def handler(event, context):\n    return {'ids': {1, 2}}\n")

    # when it is invoked, then it fails as Lambda reports an answer it cannot send
    with pytest.raises(FunctionError) as failed:
        invoke(unmarshallable, {}, cloud)
    assert failed.value.error_type == "Runtime.MarshalError"
