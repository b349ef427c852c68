"""Alarms on what needs a person, and a dashboard of what the exporter did."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constants import INGEST_AGE_ALARM_THRESHOLD, METRICS_NAMESPACE
from infra.exporter import Exporter
from kinesis_export import metrics as names
from kinesis_export.config import AlarmsConfig

_PERIOD = Duration.minutes(1)
# Percentiles over 5 minutes: enough values for a p99 at a modest rate. The latency alarm wants 3 of
# them in a row: one slow period (a message or two redelivered after the visibility timeout, at a
# low rate) is no trend.
_LATENCY_PERIOD = Duration.minutes(5)
_LATENCY_EVALUATION_PERIODS = 3
_DASHBOARD_RANGE = "-PT6H"


class Monitoring(Construct):
    """Alarms: dead letters, rejects, function errors and throttles, a backlog in the ingest queue, latency.

    Each notifies the stack's alarm topic when it fires and when it clears (infra/alarms.py, which
    the stack applies to this whole list).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, destination: str, exporter: Exporter, alarms: AlarmsConfig
    ) -> None:
        super().__init__(scope, construct_id)
        function = exporter.function
        latency_threshold_ms = alarms.latency_p99_seconds * 1000

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
            # No events written, no values: a pipeline that stopped is BacklogAlarm's.
            cloudwatch.Alarm(
                self,
                "LatencyAlarm",
                alarm_description=(
                    f"Kinesis export {destination}: the 99th percentile of events' time from the ingest queue to the "
                    f"stream was over {alarms.latency_p99_seconds} s for "
                    f"{_LATENCY_EVALUATION_PERIODS * _LATENCY_PERIOD.to_minutes()} minutes"
                ),
                metric=_percentile(destination, names.EXPORT_LATENCY, 99),
                threshold=latency_threshold_ms,
                evaluation_periods=_LATENCY_EVALUATION_PERIODS,
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
                        left=[
                            _exported(destination, name)
                            for name in (*names.EVENT_OUTCOMES, names.EVENTS_QUALIFIED_AHEAD)
                        ],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Writing",
                        # The profile state's conflicts and failures, with profileState: its writes are the
                        # batch's first, before PutRecords.
                        left=[_exported(destination, name) for name in (*names.WRITING, *names.PROFILE_STATE)],
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
                [
                    cloudwatch.GraphWidget(
                        title="Latency",
                        left=[
                            _percentile(destination, names.EXPORT_LATENCY, 50, "export latency p50 (ms)"),
                            _percentile(destination, names.EXPORT_LATENCY, 99, "export latency p99 (ms)"),
                        ],
                        right=[
                            _percentile(destination, names.QUALIFICATION_AGE, 50, "qualification age p50 (ms)"),
                            _percentile(destination, names.QUALIFICATION_AGE, 99, "qualification age p99 (ms)"),
                        ],
                        left_annotations=[
                            cloudwatch.HorizontalAnnotation(value=latency_threshold_ms, label="LatencyAlarm (p99)")
                        ],
                        width=12,
                    ),
                    cloudwatch.GraphWidget(
                        title="Kinesis errors",
                        left=[_exported(destination, name) for name in names.KINESIS_ERRORS],
                        width=12,
                    ),
                ],
            ],
        )
        self.dashboard_url = (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )


def _exported(destination: str, name: str) -> cloudwatch.Metric:
    """One of the function's EMF metrics (namespace KinesisExport, dimension service=<destination>), summed a minute."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": destination},
        statistic=cloudwatch.Stats.SUM,
        period=_PERIOD,
    )


def _percentile(destination: str, name: str, percentile: int, label: str | None = None) -> cloudwatch.Metric:
    """A percentile of one of the function's EMF metrics of a value per event, over the latency period."""
    return _exported(destination, name).with_(
        statistic=cloudwatch.Stats.p(percentile), period=_LATENCY_PERIOD, label=label
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
