"""No personal data in any log line or reject reason, whatever part of an event it was put in.

Marked personal values (tests.support.PersonalData) are planted in every part of hostile events, as
values and as keys: identity namespaces and ids, segment ids, attribute names and values, event ids,
envelope fields. Everything the function prints, answers and attaches to a reject is then searched
for the markers. The rejects queue's message body is the event itself, parked unchanged on purpose:
it is the one place they belong, and is left out of the search.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from kinesis_export.backfill import export_items
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import prepare_lines
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.local import LambdaContext, receive_all, sqs_lambda_event
from kinesis_export_cli.main import main
from tests.fakes import FakeKinesis
from tests.support import HIGH_PROPENSITY, PersonalData, profile_event


def hostile_bodies(pii: PersonalData, *, oversized: bool = False) -> list[str]:
    """Bodies whose every invalid part is, or sits under, a marked personal value.

    `oversized` adds an event whose record would be over 1 MiB: a backfill line can be that large,
    an SQS message cannot.
    """

    def event(**changes: Any) -> dict[str, Any]:
        return profile_event(pii.mark(), event_id=pii.mark(), **changes)

    def membership(**changes: Any) -> dict[str, Any]:
        return {"status": "realized", "lastQualificationTime": "2020-05-25T21:24:39Z", **changes}

    def at(time: str) -> dict[str, Any]:
        return {"ups": {HIGH_PROPENSITY: membership(lastQualificationTime=time)}}

    email, phone, name = pii.mark("email"), pii.mark("phone"), pii.mark("name")
    events: list[Any] = [
        # identity namespaces and ids
        event(identityMap={pii.mark("email"): "not a list"}),
        event(identityMap={pii.mark("email"): [{"id": 12345, "primary": pii.mark("name")}]}),
        event(identityMap={"ECID": [{"id": pii.mark(), "primary": True}], pii.mark("email"): [{"primary": True}]}),
        event(identityMap={"Email": [{"id": pii.mark("email"), "primary": pii.mark()}]}),
        event(identityMap={pii.mark("email"): []}),
        # segment ids, statuses and times
        event(segmentMembership={"ups": {pii.mark("email"): {"status": pii.mark()}}}),
        event(segmentMembership={"ups": {pii.mark("email"): membership(lastQualificationTime=pii.mark())}}),
        event(segmentMembership=at(f"2020-{pii.mark()}Z")),
        event(segmentMembership=at("0001-01-01T00:00:00+01:00")),
        event(segmentMembership=at("2016-12-31T23:59:60Z")),
        event(segmentMembership={pii.mark("email"): {}}),
        # attribute names and values: non-finite under input keys, wrong types, too large
        event(attributes={"person": {"email": {pii.mark("email"): float("nan")}}}),
        event(attributes={"person": {"email": [pii.mark("email"), float("inf")], "name": {"lastName": name}}}),
        event(attributes={pii.mark("email"): {pii.mark(): float("-inf")}, "mobilePhone": {"number": float("inf")}}),
        event(attributes=[pii.mark("email"), phone]),
        # event ids
        {**event(), "eventId": [pii.mark()]},
        {**event(), "eventId": {pii.mark(): pii.mark()}},
        # envelopes
        {"detail-type": pii.mark(), "source": pii.mark("email"), "detail": pii.mark("email")},
        {"detail-type": pii.mark(), "detail": event(identityMap={pii.mark("email"): [{"id": pii.mark()}]})},
        {"detail-type": pii.mark(), "detail": {pii.mark("email"): event()}},
        # anything that is not an event
        pii.mark("email"),
        [event(identityMap={pii.mark("email"): 1})],
    ]
    if oversized:
        events.append(event(attributes={"person": {"email": email + "x" * (1024 * 1024)}}))
    bodies = [json.dumps(value, allow_nan=True) for value in events]
    bodies.append(json.dumps([*events, event()], allow_nan=True))  # the same, as elements of one array
    bodies += [
        f'{{"eventId": "{pii.mark()}", "identityMap": {{"{pii.mark("email")}": ',  # not JSON
        f'{{"eventId": "{pii.mark()}" "{pii.mark("email")}"}}',
        f'[{{"eventId": {pii.mark()}}}]',
        f'{{"{pii.mark("email")}\\ud800": 1}}',
        f'{{"attributes": {{"{pii.mark()}": 1{"0" * 5000}}}}}',
        f'{{"{pii.mark("email")}": ' + "[" * 300 + "]" * 300 + "}",
    ]
    return bodies


def print_logs_to_captured_stdout(pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the function's log handlers at the stdout being captured now.

    Powertools configures a logger (by service name) once per process: a handler imported again
    (a second cold start in one test session) keeps writing to the stdout of the first, which an
    earlier test captured.
    """
    for handler in logging.getLogger(pipeline.function.config.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", sys.stdout)


@pytest.mark.parametrize("rejects_queue", [True, False], ids=["rejects parked", "no rejects queue"])
def test_no_planted_personal_value_reaches_a_log_line_a_reject_reason_or_the_answer(
    start_pipeline, capfd, monkeypatch, rejects_queue
):
    # given hostile events holding marked personal values in every part, as values and as keys
    pii = PersonalData()
    bodies = hostile_bodies(pii)
    pipeline = start_pipeline(rejects_queue=rejects_queue)
    print_logs_to_captured_stdout(pipeline, monkeypatch)
    capfd.readouterr()  # what the start-up printed is not the batch's
    messages = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": body} for n, body in enumerate(bodies)]

    # when the function takes them
    event = sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")
    answer = pipeline.handler(event, LambdaContext())

    # then nothing it printed, answered or attached to a reject holds a marker
    printed = capfd.readouterr()
    logs = printed.out + printed.err
    lines = [json.loads(line) for line in printed.out.splitlines() if line.startswith("{")]
    logged = [line.get("message") for line in lines]
    if rejects_queue:
        parked = receive_all(pipeline.sqs, pipeline.rejects_url)
        attributes = [{name: value for name, value in message["MessageAttributes"].items()} for message in parked]
        assert answer == {"batchItemFailures": []}
        rejected_messages = {a["sourceMessageId"]["StringValue"] for a in attributes}
        assert len(parked) > len(bodies)
        assert logged.count("message rejected") == len(rejected_messages), "a line per message, with a reason"
        assert all(a["errorReason"]["StringValue"] for a in attributes)
        assert pii.found_in(json.dumps(attributes)) == []
    else:
        assert logged.count("message failed, left for SQS to retry") == len(answer["batchItemFailures"]) > 0
    assert pii.found_in(logs) == []
    assert pii.found_in(json.dumps(answer)) == []


def test_no_planted_personal_value_reaches_a_backfill_reject_or_a_map_workers_result(example_config):
    # given the same hostile events, as backfill lines and as Map items
    pii = PersonalData()
    bodies = hostile_bodies(pii, oversized=True)
    items = []
    for body in bodies:
        try:
            items.append(json.loads(body))
        except (ValueError, RecursionError):
            items.append(body)

    # when they are prepared and exported
    plan = RecordPlan(example_config)
    lines = prepare_lines(enumerate((body.encode() for body in bodies), start=1), plan)
    result = export_items(items, plan, KinesisWriter(FakeKinesis(), "s"), Deadline.after(30))

    # then no reason holds a marker
    reasons = [error.reason for _, error in lines.rejected] + [rejected["reason"] for rejected in result["rejected"]]
    assert len(reasons) > len(bodies)
    assert pii.found_in(json.dumps(reasons)) == []


def test_no_planted_personal_value_reaches_what_the_rejects_command_prints(start_pipeline, capfd, monkeypatch):
    # given the hostile events parked in the rejects queue by the function
    pii = PersonalData()
    pipeline = start_pipeline()
    messages = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": b} for n, b in enumerate(hostile_bodies(pii))]
    pipeline.handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )
    capfd.readouterr()

    # when an operator looks at them as at a dead-letter queue (a dry run), then lists them
    looked = main(["redrive", str(pipeline.rejects_url), "--dry-run"])
    as_json = main(["rejects", str(pipeline.rejects_url), "--json"])
    listed = main(["rejects", str(pipeline.rejects_url), "--delete"])

    # then the reasons are printed, as text and as JSON, and nothing of the input's
    printed = capfd.readouterr()
    assert (listed, as_json, looked) == (1, 1, 0)
    assert printed.out.count("INVALID_EVENT") > 2 * len(messages)
    assert pii.found_in(printed.out + printed.err) == []
