"""Who hears of the alarms: an SNS topic that every alarm notifies when it fires and when it clears."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, Aws
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.nag import acknowledge
from kinesis_export.config import AlarmsConfig

# CloudWatch publishes an alarm's notifications as this service principal.
CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlarmNotifications(Construct):
    """The topic the stack's alarms notify, on ALARM and on OK, and its e-mail subscriptions.

    With `alarms.topicArn` the alarms notify that existing topic and nothing is created: its policy,
    encryption and subscriptions are managed where it is. Otherwise the stack creates a topic of its
    own, which only CloudWatch may publish to, for this stack's alarms only, and over TLS.

    The topic is not encrypted at rest. CloudWatch cannot publish to a topic encrypted with the
    AWS-managed key alias/aws/sns (its key policy does not let CloudWatch use it), so SSE would take a
    customer-managed key per stack ($1 a month each, and a key policy to keep); and a notification
    carries an alarm's name, description, state and metric values, no personal data. TLS is enforced in
    transit. An account whose rules ask for encrypted topics names one of its own in `alarms.topicArn`.
    The pinned cdk-nag has no rule on a topic's encryption at rest (no AwsSolutions-SNS2): there is no
    finding to acknowledge, so the reason is here and in the README.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        destination: str,
        config: AlarmsConfig,
        alarms: Sequence[cloudwatch.Alarm],
    ) -> None:
        super().__init__(scope, construct_id)
        if config.topic_arn is not None:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", config.topic_arn)
        else:
            self.topic = self._own_topic(destination, config.email, alarms)
            if not config.email:
                # Shown by `cdk synth` and `cdk deploy`: an alarm heard by nobody is the gap this topic closes.
                Annotations.of(self).add_warning_v2(
                    "kinesis-export:alarms-unheard",
                    f"the alarms of {destination} notify a topic of its own with no subscriber: set alarms.email, "
                    "subscribe to the AlarmTopicArn output, or name an existing topic in alarms.topicArn",
                )

        # Every alarm of the list, whichever construct made it: an alarm added to Monitoring.alarms later
        # is heard as the others are. OK as well as ALARM, so that a person knows when it is over.
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in alarms:
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)

    def _own_topic(self, destination: str, email: Sequence[str], alarms: Sequence[cloudwatch.Alarm]) -> sns.Topic:
        # enforce_ssl denies sns:Publish without TLS (AwsSolutions-SNS3).
        topic = sns.Topic(self, "Topic", display_name=f"Kinesis export {destination} alarms", enforce_ssl=True)
        # Adding a statement creates an AWS::SNS::TopicPolicy, which replaces SNS's default policy: that one
        # let every principal of the account (and AWS services acting for it) publish, subscribe and manage
        # the topic on the topic policy alone. Now the account's principals need an IAM policy that grants
        # them SNS actions (administrators and CloudFormation's deployment role have one), and the only
        # publisher the topic admits of itself is CloudWatch, for this stack's alarms.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PublishAlarms",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    # The alarms' own ARNs: the policy depends on the alarms, which depend on the topic
                    # alone, so there is no cycle; a replaced alarm's new ARN comes in the same deploy.
                    "ArnEquals": {"aws:SourceArn": [alarm.alarm_arn for alarm in alarms]},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        # An address listed twice, in whatever case, is one subscription: two resources on one SNS
        # subscription would unsubscribe it when either is removed.
        addresses: dict[str, str] = {}
        for address in email:
            addresses.setdefault(address.lower(), address)
        for address in addresses.values():
            subscription = topic.add_subscription(subscriptions.EmailSubscription(address))
            acknowledge(
                subscription,
                "Serverless-SNSRedrivePolicy",
                "An e-mail subscription: SNS hands the message to its mail delivery, and a dead-letter queue "
                "would need a reader and an alarm of its own, the very chain this topic is. An alarm nobody "
                "heard stays in ALARM, on the dashboard and in the alarm's history.",
            )
        return topic
