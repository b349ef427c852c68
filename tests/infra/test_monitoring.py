"""Alarms on what needs a person, a dashboard of the EMF metrics, and the outputs operators use."""

from __future__ import annotations

import json
import re
from typing import Any

from kinesis_export import metrics as names
from tests.infra.conftest import Assembly
from tests.infra.templates import EXAMPLE, PROVISIONED, logical_id, of_type

# The exporter's metrics, as the handler emits them (tests/integration/test_metrics.py checks that).
EMF_METRICS = names.EXPORTER


def _dashboard_body(template: dict[str, Any]) -> str:
    """The dashboard body with its references flattened to their logical IDs."""
    [dashboard] = of_type(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in parts)


def test_alarms_watch_dead_letters_rejects_errors_throttles_backlog_and_latency(example: Assembly) -> None:
    template = example.templates[EXAMPLE]

    watched = sorted(
        (alarm["Properties"]["MetricName"], json.dumps(alarm["Properties"]["Dimensions"][0]["Value"]))
        for alarm in of_type(template, "AWS::CloudWatch::Alarm").values()
    )

    def queue(path: str) -> str:
        return json.dumps({"Fn::GetAtt": [logical_id(template, path), "QueueName"]})

    function = json.dumps({"Ref": "ExportFunction"})
    assert watched == sorted(
        [
            ("ApproximateNumberOfMessagesVisible", queue("Exporter/DeadLetterQueue")),
            ("ApproximateNumberOfMessagesVisible", queue("Exporter/RejectsQueue")),
            ("Errors", function),
            ("Throttles", function),
            ("ApproximateAgeOfOldestMessage", queue("Exporter/IngestQueue")),
            ("ExportLatency", json.dumps("crm-prospects")),
        ]
    )


def _latency_alarm(template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id(template, "Monitoring/LatencyAlarm")]["Properties"]
    return properties


def test_the_latency_alarm_watches_the_p99_of_export_latency_above_the_configured_threshold(
    example: Assembly, fixtures: Assembly
) -> None:
    # given the example (the default, 300 s) and a fixture that sets alarms.latencyP99Seconds to 120
    default, configured = _latency_alarm(example.templates[EXAMPLE]), _latency_alarm(fixtures.templates[PROVISIONED])

    # then each alarms on its destination's 99th percentile of ExportLatency (ms), over 3 periods of 5 minutes
    assert {key: default[key] for key in ("Namespace", "MetricName", "Dimensions", "ExtendedStatistic")} == {
        "Namespace": "KinesisExport",
        "MetricName": names.EXPORT_LATENCY,
        "Dimensions": [{"Name": "service", "Value": "crm-prospects"}],
        "ExtendedStatistic": "p99",
    }
    assert "Statistic" not in default
    assert (default["Period"], default["EvaluationPeriods"]) == (300, 3)
    assert default["ComparisonOperator"] == "GreaterThanThreshold"
    assert default["TreatMissingData"] == "notBreaching"
    assert (default["Threshold"], configured["Threshold"]) == (300_000, 120_000)
    assert configured["Dimensions"] == [{"Name": "service", "Value": "partners-provisioned"}]


def test_dashboard_shows_every_emf_metric_of_this_destination(example: Assembly) -> None:
    body = _dashboard_body(example.templates[EXAMPLE])

    for metric in EMF_METRICS:
        assert f'["KinesisExport","{metric}","service","crm-prospects"' in body, metric


def test_dashboard_graphs_the_p50_and_p99_of_latency_and_qualification_age_and_kinesis_errors(
    example: Assembly,
) -> None:
    body = _dashboard_body(example.templates[EXAMPLE])

    def stats(metric: str) -> set[str]:
        pattern = rf'\["KinesisExport","{metric}","service","crm-prospects",(\{{[^}}]*\}})\]'
        return {json.loads(options).get("stat") for options in re.findall(pattern, body)}

    for metric in names.LATENCIES:
        assert stats(metric) == {"p50", "p99"}, metric
    for metric in names.KINESIS_ERRORS:
        assert stats(metric) == {"Sum"}, metric
    assert '"title":"Latency"' in body and '"title":"Kinesis errors"' in body
    assert '{"value":300000,"label":"LatencyAlarm (p99)"' in body


def test_outputs_name_what_operators_and_producers_need(example: Assembly) -> None:
    outputs = example.templates[EXAMPLE]["Outputs"]

    assert {
        "IngestQueueUrl",
        "IngestQueueArn",
        "StreamName",
        "StreamArn",
        "FunctionName",
        "DashboardUrl",
    } <= outputs.keys()
    assert outputs["FunctionName"]["Value"] == {"Ref": "ExportFunction"}
