"""Alarms on what needs a person, and a dashboard of what the exporter did."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import INGEST_AGE_ALARM_THRESHOLD, METRICS_NAMESPACE
from infra.exporter import Exporter
from kinesis_export import metrics as names

_PERIOD = Duration.minutes(1)
_DASHBOARD_RANGE = "-PT6H"


class Monitoring(Construct):
    """Alarms: dead letters, rejects, function errors and throttles, a backlog in the ingest queue.

    Each notifies the stack's alarm topic when it fires and when it clears (infra/alarms.py, which
    the stack applies to this whole list).
    """

    def __init__(self, scope: Construct, construct_id: str, *, destination: str, exporter: Exporter) -> None:
        super().__init__(scope, construct_id)
        function = exporter.function

        self.alarms = [
            _any_alarm(
                self,
                "DeadLetterAlarm",
                _depth(exporter.dead_letter_queue),
                f"Kinesis export {destination}: messages failed every retry and wait in the dead-letter queue",
            ),
            _any_alarm(
                self,
                "RejectsAlarm",
                _depth(exporter.rejects_queue),
                f"Kinesis export {destination}: invalid messages wait in the rejects queue",
            ),
            _any_alarm(
                self,
                "ErrorsAlarm",
                function.metric_errors(period=_PERIOD, statistic=cloudwatch.Stats.SUM),
                f"Kinesis export {destination}: the function failed (an error, not a partial batch)",
            ),
            _any_alarm(
                self,
                "ThrottlesAlarm",
                function.metric_throttles(period=_PERIOD, statistic=cloudwatch.Stats.SUM),
                f"Kinesis export {destination}: invocations were throttled",
            ),
            cloudwatch.Alarm(
                self,
                "BacklogAlarm",
                alarm_description=(
                    f"Kinesis export {destination}: the oldest ingest message waited more than "
                    f"{INGEST_AGE_ALARM_THRESHOLD.to_minutes()} minutes"
                ),
                metric=exporter.ingest_queue.metric_approximate_age_of_oldest_message(
                    period=_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=INGEST_AGE_ALARM_THRESHOLD.to_seconds(),
                evaluation_periods=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]

        if exporter.undelivered_queue is not None:
            self.alarms.append(
                _any_alarm(
                    self,
                    "UndeliveredEventsAlarm",
                    _depth(exporter.undelivered_queue),
                    f"Kinesis export {destination}: EventBridge could not deliver events to the FIFO ingest queue",
                )
            )

        def exported(name: str) -> cloudwatch.Metric:
            # The function's EMF metrics: namespace KinesisExport, dimension service=<destination>.
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": destination},
                statistic=cloudwatch.Stats.SUM,
                period=_PERIOD,
            )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"KinesisExport-{destination}",
            start=_DASHBOARD_RANGE,
            widgets=[
                [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3)],
                [
                    cloudwatch.GraphWidget(
                        title="Events",
                        left=[exported(name) for name in names.EVENT_OUTCOMES],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Writing",
                        left=[exported(name) for name in names.WRITING],
                        width=12,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Function",
                        left=[
                            function.metric_invocations(period=_PERIOD),
                            function.metric_errors(period=_PERIOD),
                            function.metric_throttles(period=_PERIOD),
                        ],
                        right=[function.metric_duration(period=_PERIOD, statistic=cloudwatch.Stats.p(99))],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Queues",
                        left=[
                            _depth(exporter.ingest_queue, "ingest"),
                            _depth(exporter.dead_letter_queue, "dead letters"),
                            _depth(exporter.rejects_queue, "rejects"),
                        ],
                        right=[
                            exporter.ingest_queue.metric_approximate_age_of_oldest_message(
                                period=_PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label="oldest ingest message (s)"
                            )
                        ],
                        width=12,
                    ),
                ],
            ],
        )
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )


def _depth(queue: sqs.Queue, label: str | None = None) -> cloudwatch.Metric:
    return queue.metric_approximate_number_of_messages_visible(
        period=_PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label=label
    )


def _any_alarm(scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
    """An alarm on the first occurrence: any dead letter, reject, error or throttle needs a person."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
