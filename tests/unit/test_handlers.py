"""The handlers over functions built with fakes: what they answer, write, park and print as EMF."""

from __future__ import annotations

from kinesis_export import metrics as names
from kinesis_export import wiring
from kinesis_export_cli.local import LambdaContext, sqs_lambda_event
from tests.fakes import FakeKinesis, FakeSqs
from tests.support import EXAMPLE_CONFIG, body, emitted_metrics, handler_module, profile_event

ENVIRONMENT = {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"}
REJECTS_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/rejects"


def test_the_export_handler_writes_valid_events_parks_invalid_ones_and_prints_the_metrics_named_once(capsys):
    # given an exporter built with a fake stream and a fake rejects queue
    kinesis, sqs = FakeKinesis(), FakeSqs()
    exporter = wiring.exporter(ENVIRONMENT | {"REJECTS_QUEUE_URL": REJECTS_URL}, kinesis=kinesis, sqs=sqs)
    handler = handler_module("export").handler_for(exporter)
    messages = [
        {"MessageId": "m1", "ReceiptHandle": "r1", "Body": body(profile_event("p1", event_id="e1"))},
        {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "not json"},
    ]
    capsys.readouterr()

    # when it takes a batch of one valid and one invalid event
    answer = handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )

    # then the valid one is on the stream, the invalid one parked, neither left for a retry
    assert answer == {"batchItemFailures": []}
    assert [key for key, _ in kinesis.stream] == ["p1"]
    assert [entry["MessageAttributes"]["sourceMessageId"]["StringValue"] for entry in sqs.sent] == ["m2"]
    # and the EMF it prints names exactly the metrics of kinesis_export.metrics (no ledger: no duplicates)
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics.keys() == {*names.EVENT_OUTCOMES, *names.WRITING} - {names.EVENTS_DUPLICATE}
    assert (metrics[names.EVENTS_EXPORTED], metrics[names.EVENTS_REJECTED], metrics[names.EVENTS_FAILED]) == (
        [1],
        [1],
        [0],
    )


def test_the_backfill_worker_writes_its_items_and_prints_the_backfill_metrics(capsys):
    # given a worker built with a fake stream
    kinesis = FakeKinesis()
    handler = handler_module("backfill").handler_for(wiring.worker(ENVIRONMENT, kinesis=kinesis))
    capsys.readouterr()

    # when it takes a batch of two valid items and one that is not an event
    result = handler({"Items": [profile_event("p1"), profile_event("p2", event_id="e-2"), 7]}, LambdaContext())

    # then the two are on the stream, the third reported, and the metrics are the backfill's
    assert result["exported"] == 2
    assert len(result["rejected"]) == 1
    assert sorted(key for key, _ in kinesis.stream) == ["p1", "p2"]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics == {names.BACKFILL_EXPORTED: [2], names.BACKFILL_REJECTED: [1]}
