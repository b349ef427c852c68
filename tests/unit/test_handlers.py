"""The handlers over functions built with fakes: what they answer, write, park and print as EMF."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from kinesis_export import metrics as names
from kinesis_export import wiring
from kinesis_export_cli.local import LambdaContext, sqs_lambda_event
from tests.fakes import FakeKinesis, FakeSqs
from tests.support import EXAMPLE_CONFIG, body, emf_documents, emitted_metrics, handler_module, profile_event

ENVIRONMENT = {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG), "AWS_REGION": "us-east-1"}
REJECTS_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/rejects"
QUALIFIED_MS = datetime(2020, 5, 25, 21, 24, 39, tzinfo=UTC).timestamp() * 1000  # profile_event's time


def test_the_export_handler_writes_valid_events_parks_invalid_ones_and_prints_the_metrics_named_once(capsys):
    # given an exporter built with a fake stream and a fake rejects queue
    kinesis, sqs = FakeKinesis(), FakeSqs()
    exporter = wiring.exporter(ENVIRONMENT | {"REJECTS_QUEUE_URL": REJECTS_URL}, kinesis=kinesis, sqs=sqs)
    handler = handler_module("export").handler_for(exporter)
    sent = int(time.time() * 1000) - 2000
    messages = [
        {
            "MessageId": "m1",
            "ReceiptHandle": "r1",
            "Body": body(profile_event("p1", event_id="e1")),
            "Attributes": {"SentTimestamp": str(sent)},
        },
        {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "not json", "Attributes": {"SentTimestamp": str(sent)}},
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
    # and the EMF it prints names exactly the metrics of kinesis_export.metrics (no ledger, no profileState:
    # neither duplicates nor the profile state's)
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics.keys() == set(names.EXPORTER) - {names.EVENTS_DUPLICATE, *names.PROFILE_STATE}
    assert (metrics[names.EVENTS_EXPORTED], metrics[names.EVENTS_REJECTED], metrics[names.EVENTS_FAILED]) == (
        [1],
        [1],
        [0],
    )
    # with one latency and one age for the event written: 2 s since it was sent, years since 2020-05-25T21:24:39Z
    [latency], [age] = metrics[names.EXPORT_LATENCY], metrics[names.QUALIFICATION_AGE]
    assert 2000 <= latency < 2000 + 10_000
    assert age == pytest.approx(time.time() * 1000 - QUALIFIED_MS, abs=10_000)
    assert all(metrics[name] == [0] for name in names.KINESIS_ERRORS)


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


def test_every_latency_of_a_500_message_batch_is_printed_at_most_100_values_a_metric_a_document(capsys):
    # given an exporter and a full batch (500 messages, one event each), sent 1 to 500 ms ago
    exporter = wiring.exporter(ENVIRONMENT, kinesis=FakeKinesis(), sqs=FakeSqs())
    handler = handler_module("export").handler_for(exporter)
    now = int(time.time() * 1000)
    messages = [
        {
            "MessageId": f"m{n}",
            "ReceiptHandle": f"r{n}",
            "Body": body(profile_event(f"p{n}", event_id=f"e{n}")),
            "Attributes": {"SentTimestamp": str(now - n - 1)},
        }
        for n in range(500)
    ]
    capsys.readouterr()

    # when it takes the batch
    answer = handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )

    # then every event's latency and age is printed, in documents EMF takes: at most 100 values a metric
    printed = capsys.readouterr().out
    assert answer == {"batchItemFailures": []}
    for document in emf_documents(printed):
        for name in names.LATENCIES:
            assert len(document.get(name, [])) <= 100, name
    metrics = emitted_metrics(printed)
    assert len(metrics[names.EXPORT_LATENCY]) == len(metrics[names.QUALIFICATION_AGE]) == 500
    # and the latencies are those of these messages: each at least its own time since it was sent
    assert min(metrics[names.EXPORT_LATENCY]) >= 1
    assert sorted(metrics[names.EXPORT_LATENCY])[-1] >= 500


def test_no_value_is_printed_when_powertools_metrics_are_disabled(capsys, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler = handler_module("export").handler_for(wiring.exporter(ENVIRONMENT, kinesis=FakeKinesis(), sqs=FakeSqs()))
    messages = [
        {
            "MessageId": "m1",
            "ReceiptHandle": "r1",
            "Body": body(profile_event("p1")),
            "Attributes": {"SentTimestamp": str(int(time.time() * 1000))},
        }
    ]
    capsys.readouterr()

    handler(sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext())

    assert emf_documents(capsys.readouterr().out) == []
