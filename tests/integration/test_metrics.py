"""The EMF metrics the exporter prints: those named in kinesis_export.metrics, which the dashboard graphs,
with Kinesis's errors by class and each event's latency and qualification age."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from kinesis_export import metrics as names
from kinesis_export_cli.local import LambdaContext, poll_once, sqs_lambda_event
from tests.faultproxy import CallFault, EntryFaults
from tests.support import HIGH_PROPENSITY, body, emitted_metrics, profile_event


def test_the_handler_emits_the_metrics_the_dashboard_graphs(start_pipeline, capfd):
    # given a started function (no idempotency: no EventsDuplicate) and a batch of one valid, one invalid event
    pipeline = start_pipeline()
    capfd.readouterr()
    sent = {"SentTimestamp": str(int(time.time() * 1000))}
    messages = [
        {"MessageId": "m1", "ReceiptHandle": "r1", "Body": body(profile_event("metrics-1")), "Attributes": sent},
        {"MessageId": "m2", "ReceiptHandle": "r2", "Body": "not json", "Attributes": sent},
    ]

    # when it takes the batch
    pipeline.handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )

    # then its EMF names are exactly the module's (but EventsDuplicate and the profile state's: no ledger, no
    # profileState), which the dashboard takes too
    assert emitted_metrics(capfd.readouterr().out).keys() == set(names.EXPORTER) - {
        names.EVENTS_DUPLICATE,
        *names.PROFILE_STATE,
    }


def test_kinesis_errors_are_counted_by_class_and_each_event_written_has_its_latency_and_age(
    start_pipeline, fault_proxy, capfd
):
    # given five events of distinct profiles, qualified 1 to 5 hours ago, in the ingest queue
    pipeline = start_pipeline()
    now = int(time.time())
    qualified = {}  # message id -> when its event qualified (epoch seconds)
    started = time.time()
    for n in range(5):
        event = profile_event(f"metrics-{n}", event_id=f"e-{n}")
        at = now - 3600 * (n + 1)
        event["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = datetime.fromtimestamp(
            at, UTC
        ).strftime("%Y-%m-%dT%H:%M:%SZ")
        sent = pipeline.sqs.send_message(QueueUrl=pipeline.ingest_url, MessageBody=body(event))
        qualified[sent["MessageId"]] = at
    # and a Kinesis whose first call fails whole (500), and whose second throttles an entry, throttles the
    # stream's KMS key for another, and finds the key disabled for a third (not retried: its message fails)
    faults = {
        1: CallFault(500, "InternalFailure"),
        2: EntryFaults(
            {0: "ProvisionedThroughputExceededException", 1: "KMSThrottlingException", 2: "KMSDisabledException"}
        ),
    }
    fault_proxy.fault = lambda call, entries: faults.get(call)
    capfd.readouterr()

    # when Lambda's poller hands the function the batch
    delivered, failed = poll_once(pipeline.sqs, pipeline.ingest_url, pipeline.handler, batch_size=5)
    finished = time.time()

    # then the records no call wrote are counted by class, each time: 5 by the 500, then 1 throttled, 2 KMS
    assert delivered == 5 and len(failed) == 1
    metrics = emitted_metrics(capfd.readouterr().out)
    assert metrics[names.PUT_RECORDS_INTERNAL_FAILURES] == [5]
    assert metrics[names.PUT_RECORDS_THROTTLED] == [1]
    assert metrics[names.PUT_RECORDS_KMS_ERRORS] == [2]
    for name in (names.PUT_RECORDS_ACCESS_DENIED, names.PUT_RECORDS_NOT_FOUND, names.PUT_RECORDS_OTHER_ERRORS):
        assert metrics[name] == [0], name
    assert metrics[names.PUT_RECORDS_RETRIES] == [5 + 2] and metrics[names.EVENTS_EXPORTED] == [4]
    # and each of the 4 events written has one latency: sent and written while the test ran (moto's clock is this
    # machine's; a second of margin for SentTimestamp's rounding)
    taken_ms = (finished - started) * 1000
    latencies = metrics[names.EXPORT_LATENCY]
    assert len(latencies) == 4
    assert all(0 <= latency <= taken_ms + 1000 for latency in latencies), (latencies, taken_ms)
    # and one qualification age, from its own time to its write
    written = sorted(at for message_id, at in qualified.items() if message_id not in failed)
    ages = sorted(metrics[names.QUALIFICATION_AGE], reverse=True)  # the earliest time is the oldest
    for age, at in zip(ages, written, strict=True):
        assert (started - at) * 1000 - 1 <= age <= (finished - at) * 1000 + 1, (age, at)
    assert metrics[names.EVENTS_QUALIFIED_AHEAD] == [0]
