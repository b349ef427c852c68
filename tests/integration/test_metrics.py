"""The EMF metrics the exporter prints are those named in kinesis_export.metrics, which the dashboard graphs."""

from __future__ import annotations

import json

from kinesis_export import metrics as names
from kinesis_export_cli.local import LambdaContext, sqs_lambda_event
from tests.support import body, profile_event


def emitted_metric_names(printed: str) -> set[str]:
    """The metric names of every EMF line printed (JSON lines with an `_aws` section)."""
    found: set[str] = set()
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                found.update(metric["Name"] for metric in directive["Metrics"])
    return found


def test_the_handler_emits_the_metrics_the_dashboard_graphs(start_pipeline, capfd):
    # given a started function (no idempotency: no EventsDuplicate) and a batch of one valid, one invalid event
    pipeline = start_pipeline()
    capfd.readouterr()
    messages = [
        {"MessageId": "m1", "ReceiptHandle": "r1", "Body": body(profile_event("metrics-1"))},
        {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "not json"},
    ]

    # when it takes the batch
    pipeline.handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )

    # then its EMF names are exactly the module's, which the dashboard takes too
    expected = {*names.EVENT_OUTCOMES, *names.WRITING} - {names.EVENTS_DUPLICATE}
    assert emitted_metric_names(capfd.readouterr().out) == expected
