"""The EMF metrics the exporter prints are those named in kinesis_export.metrics, which the dashboard graphs."""

from __future__ import annotations

from kinesis_export import metrics as names
from kinesis_export_cli.local import LambdaContext, sqs_lambda_event
from tests.support import body, emitted_metrics, profile_event


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
    assert emitted_metrics(capfd.readouterr().out).keys() == expected
