"""Alarms on what needs a person, a dashboard of the EMF metrics, and the outputs operators use."""

from __future__ import annotations

import json
from typing import Any

from kinesis_export import metrics as names
from tests.infra.conftest import Assembly
from tests.infra.templates import EXAMPLE, logical_id, of_type

# The exporter's metrics, as the handler emits them (tests/integration/test_metrics.py checks that).
EMF_METRICS = (*names.EVENT_OUTCOMES, *names.WRITING)


def _dashboard_body(template: dict[str, Any]) -> str:
    """The dashboard body with its references flattened to their logical IDs."""
    [dashboard] = of_type(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in parts)


def test_alarms_watch_dead_letters_rejects_errors_throttles_and_backlog(example: Assembly) -> None:
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
        ]
    )


def test_dashboard_shows_every_emf_metric_of_this_destination(example: Assembly) -> None:
    body = _dashboard_body(example.templates[EXAMPLE])

    for metric in EMF_METRICS:
        assert f'["KinesisExport","{metric}","service","crm-prospects"' in body, metric


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
