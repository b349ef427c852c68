"""Who hears of the alarms: the stack's topic (or the configured one), its policy and its subscriptions."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from aws_cdk import App, CfnElement, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Template
from constructs import Construct

from infra.alarms import AlarmNotifications
from kinesis_export.config import AlarmsConfig
from tests.infra.conftest import Assembly
from tests.infra.templates import ACCESS_KEY, EXAMPLE, PROVISIONED, of_type, ref
from tests.support import ROOT

# The configured topic of the access-key fixture.
EXISTING_TOPIC = "arn:aws:sns:us-east-1:111122223333:agency-on-call"


def _topic(template: dict[str, Any]) -> dict[str, Any] | str:
    """What the alarms should notify: the stack's own topic, or the configured one if it has none."""
    return ref(template, "Notifications/Topic") if of_type(template, "AWS::SNS::Topic") else EXISTING_TOPIC


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(assemblies: list[Assembly]) -> None:
    # given every export stack, whatever made its alarms
    for assembly in assemblies:
        for name, template in assembly.export_templates.items():
            alarms = of_type(template, "AWS::CloudWatch::Alarm")
            assert alarms, name

            # then each alarm has the topic as its one ALARM action and its one OK action
            for alarm_id, alarm in alarms.items():
                properties = alarm["Properties"]
                assert properties["AlarmActions"] == [_topic(template)], f"{name} {alarm_id}"
                assert properties["OKActions"] == [_topic(template)], f"{name} {alarm_id}"
                assert properties.get("ActionsEnabled", True) is True


def test_only_cloudwatch_may_publish_to_the_topic_for_this_stacks_alarms_and_only_over_tls(
    example: Assembly,
) -> None:
    template = example.templates[EXAMPLE]
    topic = ref(template, "Notifications/Topic")
    every_alarm = [{"Fn::GetAtt": [alarm, "Arn"]} for alarm in of_type(template, "AWS::CloudWatch::Alarm")]

    # the one topic policy (it replaces SNS's default policy) holds exactly these statements
    [policy] = of_type(template, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [topic]
    assert policy["Properties"]["PolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPublishThroughSSLOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "PublishAlarms",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": every_alarm},
                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                },
            },
        ],
    }


def test_every_alarm_of_each_stack_may_publish_to_its_topic(assemblies: list[Assembly]) -> None:
    # an alarm added later is in the policy as it is in the actions
    for assembly in assemblies:
        for name, template in assembly.export_templates.items():
            policies = of_type(template, "AWS::SNS::TopicPolicy").values()
            for policy in policies:
                [publish] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
                sources = publish["Condition"]["ArnEquals"]["aws:SourceArn"]
                assert sorted(source["Fn::GetAtt"][0] for source in sources) == sorted(
                    of_type(template, "AWS::CloudWatch::Alarm")
                ), name


def test_the_topic_is_named_for_the_destination_and_left_unencrypted(example: Assembly) -> None:
    # CloudWatch cannot publish to a topic under alias/aws/sns, and a notification carries no personal
    # data: no customer key per stack (infra/alarms.py)
    [topic] = of_type(example.templates[EXAMPLE], "AWS::SNS::Topic").values()

    assert topic["Properties"]["DisplayName"] == "Kinesis export crm-prospects alarms"
    assert "KmsMasterKeyId" not in topic["Properties"]
    assert example.acknowledged(EXAMPLE).get("Notifications/Topic", set()) == set()


def test_without_email_the_topic_has_no_subscription(example: Assembly) -> None:
    assert of_type(example.templates[EXAMPLE], "AWS::SNS::Subscription") == {}


def test_each_configured_address_is_subscribed_once_by_email(fixtures: Assembly) -> None:
    # given two addresses, one of them listed twice (the second time in other case)
    template = fixtures.templates[PROVISIONED]

    subscriptions = {
        s["Properties"]["Endpoint"]: (s["Properties"]["Protocol"], s["Properties"]["TopicArn"])
        for s in of_type(template, "AWS::SNS::Subscription").values()
    }

    topic = ref(template, "Notifications/Topic")
    assert len(of_type(template, "AWS::SNS::Subscription")) == 2
    assert subscriptions == {"oncall@example.com": ("email", topic), "data-platform@example.com": ("email", topic)}
    # and each acknowledges only the missing dead-letter queue, with its reason
    acknowledged = {path: rules for path, rules in fixtures.acknowledged(PROVISIONED).items() if "@" in path}
    assert acknowledged == {
        "Notifications/Topic/data-platform@example.com": {"Serverless-SNSRedrivePolicy"},
        "Notifications/Topic/oncall@example.com": {"Serverless-SNSRedrivePolicy"},
    }


def test_a_configured_topic_is_notified_and_nothing_is_created(fixtures: Assembly) -> None:
    template = fixtures.templates[ACCESS_KEY]

    assert [r for r in template["Resources"].values() if r["Type"].startswith("AWS::SNS::")] == []
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == EXISTING_TOPIC


def test_the_output_names_the_stacks_topic(example: Assembly) -> None:
    template = example.templates[EXAMPLE]

    assert template["Outputs"]["AlarmTopicArn"]["Value"] == ref(template, "Notifications/Topic")


def test_an_alarm_made_elsewhere_and_added_to_the_list_gets_both_actions_and_may_publish() -> None:
    # given alarms made by two constructs, as Monitoring's list may grow
    stack = Stack(App(), "Alarms")
    metric = cloudwatch.Metric(namespace="KinesisExport", metric_name="EventsFailed")
    alarms = [
        cloudwatch.Alarm(Construct(stack, scope), "Alarm", metric=metric, threshold=1, evaluation_periods=1)
        for scope in ("Monitoring", "Latency")
    ]

    # when the notifications are wired to the list
    notifications = AlarmNotifications(stack, "Notifications", destination="d", config=AlarmsConfig(), alarms=alarms)

    # then both alarms notify the topic, and both may publish to it
    template = Template.from_stack(stack).to_json()
    topic = {"Ref": stack.get_logical_id(cast(CfnElement, notifications.topic.node.default_child))}
    alarm_ids = [stack.get_logical_id(cast(CfnElement, alarm.node.default_child)) for alarm in alarms]
    for alarm_id in alarm_ids:
        properties = template["Resources"][alarm_id]["Properties"]
        assert (properties["AlarmActions"], properties["OKActions"]) == ([topic], [topic])
    [policy] = of_type(template, "AWS::SNS::TopicPolicy").values()
    [publish] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert publish["Condition"]["ArnEquals"]["aws:SourceArn"] == [{"Fn::GetAtt": [a, "Arn"]} for a in alarm_ids]


def test_the_readmes_statement_for_an_existing_topic_grants_what_the_stacks_own_topic_does(example: Assembly) -> None:
    # given the statement the README asks of a topic named in alarms.topicArn
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n### Alarm notifications", 1)[1]
    match = re.search(r"```json\n(.*?)```", section, re.S)
    assert match
    documented = json.loads(match.group(1))

    # then it is the stack's own statement, its alarms named by pattern instead of by ARN
    [policy] = of_type(example.templates[EXAMPLE], "AWS::SNS::TopicPolicy").values()
    [own] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert {key: documented[key] for key in ("Effect", "Principal", "Action")} == {
        key: own[key] for key in ("Effect", "Principal", "Action")
    }
    assert documented["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":alarm:KinesisExport-*")
    assert set(documented["Condition"]["StringEquals"]) == set(own["Condition"]["StringEquals"])


def test_synthesis_warns_when_the_stacks_own_topic_has_no_subscriber() -> None:
    from aws_cdk.assertions import Annotations, Match

    def warnings(config: AlarmsConfig) -> list[Any]:
        stack = Stack(App(), "Alarms")
        metric = cloudwatch.Metric(namespace="KinesisExport", metric_name="EventsFailed")
        alarm = cloudwatch.Alarm(stack, "Alarm", metric=metric, threshold=1, evaluation_periods=1)
        AlarmNotifications(stack, "Notifications", destination="d", config=config, alarms=[alarm])
        return Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("no subscriber"))

    # the stack's own topic without alarms.email is warned of, with what to do; with addresses or a topic, not
    [unheard] = warnings(AlarmsConfig())
    assert "set alarms.email, subscribe to the AlarmTopicArn output" in str(unheard.entry.data)
    assert warnings(AlarmsConfig.model_validate({"email": ["ops@example.com"]})) == []
    assert warnings(AlarmsConfig.model_validate({"topicArn": "arn:aws:sns:us-east-1:123456789012:on-call"})) == []
