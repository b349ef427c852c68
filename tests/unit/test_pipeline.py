"""One batch through parse, build, write and rejects, with fake clients."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from kinesis_export import pipeline
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import (
    MAX_REJECTS_PER_MESSAGE,
    export_batch,
    prepare_items,
    prepare_lines,
    prepare_messages,
)
from kinesis_export.queues import Queue
from kinesis_export.records import RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import ErrorClass, KinesisWriter
from tests.fakes import FakeKinesis, FakeSqs, client_error
from tests.support import HIGH_PROPENSITY, body, profile_event

NOT_JSON = '{"eventId": '
NO_IDENTITY = json.dumps({"eventId": "x", "identityMap": {}, "segmentMembership": {"ups": {}}})


def run(example_config, messages, kinesis=None, sqs=None):
    kinesis = kinesis or FakeKinesis()
    rejects = RejectsQueue(Queue(sqs, "https://sqs.local/rejects")) if sqs is not None else None
    writer = KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None)
    return export_batch(messages, RecordPlan(example_config), writer, rejects, Deadline.after(30)), kinesis


def test_invalid_messages_are_parked_with_their_reason_and_never_block_valid_ones(example_config):
    sqs = FakeSqs()
    messages = [("m1", NOT_JSON), ("m2", body(profile_event("1"))), ("m3", NO_IDENTITY)]

    report, kinesis = run(example_config, messages, sqs=sqs)

    assert report.failed_message_ids == []
    assert (report.exported, report.rejected) == (1, 2)
    assert len(kinesis.stream) == 1
    parked = {e["MessageAttributes"]["sourceMessageId"]["StringValue"]: e for e in sqs.sent}
    assert parked["m1"]["MessageBody"] == NOT_JSON
    assert parked["m1"]["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_JSON"
    assert (
        parked["m3"]["MessageAttributes"]["errorReason"]["StringValue"] == "identityMap must hold at least one identity"
    )


def test_without_a_rejects_queue_invalid_messages_are_reported_failed(example_config):
    messages = [("m1", NOT_JSON), ("m2", body(profile_event("1")))]

    report, kinesis = run(example_config, messages)

    assert report.failed_message_ids == ["m1"]
    assert "no rejects queue is configured" in report.failures["m1"]
    assert report.exported == 1 and len(kinesis.stream) == 1


def test_rejects_the_queue_did_not_take_are_reported_failed(example_config):
    messages = [("m1", NOT_JSON), ("m2", NO_IDENTITY)]

    refused, _ = run(example_config, messages, sqs=FakeSqs(refuse=frozenset({"m2"})))
    unreachable, _ = run(example_config, messages, sqs=FakeSqs(down=True))

    assert refused.failed_message_ids == ["m2"] and refused.rejected == 1
    assert unreachable.failed_message_ids == ["m1", "m2"] and unreachable.rejected == 0


def test_filtered_events_are_acknowledged_and_counted(example_config):
    unmapped = profile_event("1")
    unmapped["segmentMembership"]["ups"] = {}

    report, kinesis = run(example_config, [("m1", body(unmapped))])

    assert report.filtered == 1 and report.failed_message_ids == [] and kinesis.calls == []


def test_only_the_messages_whose_records_failed_are_reported(example_config):
    kinesis = FakeKinesis(lambda call, entries: {1: "AccessDeniedException"})
    messages = [(f"m{n}", body(profile_event(str(n)))) for n in range(3)]

    report, _ = run(example_config, messages, kinesis=kinesis)

    assert report.failed_message_ids == ["m1"]
    assert report.exported == 2


# A message body may hold a JSON array of events: each element is an event of its own.


def timed(ecid: str, event_id: str, minute: int) -> dict:
    """An event of one profile whose qualification time tells it from the profile's others."""
    event = profile_event(ecid, event_id=event_id)
    for membership in event["segmentMembership"]["ups"].values():
        membership["lastQualificationTime"] = f"2020-05-25T21:{minute:02d}:00Z"
    return event


def times_on(kinesis) -> list[str]:
    return [
        next(iter(json.loads(data)["segmentMembership"]["ups"].values()))["lastQualificationTime"]
        for _, data in kinesis.stream
    ]


def invalid(event_id: str) -> dict:
    event = profile_event("x", event_id=event_id)
    event["segmentMembership"]["ups"] = {"s": {"status": "qualified", "lastQualificationTime": "2020-05-25T21:24:39Z"}}
    return event


def test_the_elements_of_an_array_are_written_in_the_arrays_order_and_counted_as_events(example_config):
    # given one message holding three events of one profile, and a message of one event
    elements = [timed("p1", f"e{n}", minute=n) for n in (3, 1, 2)]
    messages = [("m1", json.dumps(elements)), ("m2", body(timed("p1", "e9", minute=9)))]

    # when the batch is exported
    report, kinesis = run(example_config, messages)

    # then each element is a record, in the array's order and then the next message's
    assert times_on(kinesis) == [f"2020-05-25T21:{m:02d}:00Z" for m in (3, 1, 2, 9)]
    assert (report.received, report.exported, report.failed_message_ids) == (4, 4, [])


def test_invalid_elements_are_parked_one_by_one_with_their_index_and_own_body_and_the_valid_ones_exported(
    example_config,
):
    # given an array holding two invalid elements among valid ones
    elements = [profile_event("p1", event_id="a"), invalid("b"), profile_event("p2", event_id="c"), 42]
    sqs = FakeSqs()

    # when it is exported
    report, kinesis = run(example_config, [("m1", json.dumps(elements))], sqs=sqs)

    # then the valid ones are written and the message acknowledged, each invalid one parked as a message of its own
    assert [key for key, _ in kinesis.stream] == ["p1", "p2"]
    assert (report.received, report.exported, report.rejected, report.failed_message_ids) == (4, 2, 2, [])
    assert [json.loads(entry["MessageBody"]) for entry in sqs.sent] == [invalid("b"), 42]
    attributes = [entry["MessageAttributes"] for entry in sqs.sent]
    assert [a["sourceMessageId"]["StringValue"] for a in attributes] == ["m1", "m1"]
    assert [(a["sourceIndex"]["DataType"], a["sourceIndex"]["StringValue"]) for a in attributes] == [
        ("Number", "1"),
        ("Number", "3"),
    ]
    assert attributes[0]["errorReason"]["StringValue"] == (
        "[1] segmentMembership.ups.<segment>.status: Input should be 'realized', 'existing' or 'exited'"
    )
    assert attributes[1]["errorReason"]["StringValue"] == (
        "[3] must be a JSON object (an event, or an EventBridge envelope)"
    )


def test_a_message_whose_one_element_fails_to_write_is_reported_failed_whole_and_the_others_are_not(example_config):
    # given the stream refuses the record of profile p2, the second element of m2
    kinesis = FakeKinesis(
        lambda call, entries: {n: "AccessDeniedException" for n, e in enumerate(entries) if e["PartitionKey"] == "p2"}
    )
    messages = [
        ("m1", body(profile_event("p0"))),
        ("m2", json.dumps([profile_event("p1"), profile_event("p2"), profile_event("p3")])),
        ("m3", json.dumps([profile_event("p4"), profile_event("p5")])),
    ]

    # when the batch is exported
    report, _ = run(example_config, messages, kinesis=kinesis)

    # then only m2 comes back, for its element 1; its other elements were written (and will be again)
    assert report.failed_message_ids == ["m2"]
    assert report.failures["m2"].startswith("[1] AccessDeniedException")
    assert sorted(key for key, _ in kinesis.stream) == ["p0", "p1", "p3", "p4", "p5"]
    assert (report.received, report.exported, report.failed) == (6, 5, 1)


def test_a_message_is_reported_failed_when_one_of_its_invalid_elements_cannot_be_parked(example_config):
    class RefusesSecondReject(FakeSqs):
        """Takes every reject but the one of element 2."""

        def send_message_batch(self, *, QueueUrl, Entries):
            refused = [e for e in Entries if e["MessageAttributes"].get("sourceIndex", {}).get("StringValue") == "2"]
            self.sent.extend(e for e in Entries if e not in refused)
            return {"Successful": [{"Id": e["Id"]} for e in Entries if e not in refused], "Failed": []}

    # given an array with invalid elements 1 and 2, of which the rejects queue takes only the first
    elements = [profile_event("p1"), invalid("b"), invalid("c")]
    messages = [("m1", json.dumps(elements)), ("m2", json.dumps([invalid("d")]))]
    sqs = RefusesSecondReject()

    # when the batch is exported
    report, kinesis = run(example_config, messages, sqs=sqs)

    # then m1 comes back whole (its valid element written all the same); m2, whose reject was parked, does not
    assert report.failed_message_ids == ["m1"]
    assert report.failures["m1"] == "[2] invalid input, and the rejects queue did not take it: INVALID_EVENT"
    assert report.rejected == 2 and [key for key, _ in kinesis.stream] == ["p1"]


def test_without_a_rejects_queue_a_message_holding_an_invalid_element_is_reported_failed(example_config):
    messages = [
        ("m1", json.dumps([profile_event("p1"), invalid("b")])),
        ("m2", body(profile_event("p2"))),
    ]

    report, kinesis = run(example_config, messages)

    assert report.failed_message_ids == ["m1"]
    assert report.failures["m1"].startswith("[1] invalid input, and no rejects queue is configured")
    assert [key for key, _ in kinesis.stream] == ["p1", "p2"]


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        ("[]", "INVALID_EVENT", "body is an empty array: nothing to export"),
        (" [\n] ", "INVALID_EVENT", "body is an empty array: nothing to export"),
        ('[{"eventId": "e"}', "INVALID_JSON", "body is not JSON: EOF while parsing a list at line 1 column 17"),
    ],
)
def test_an_empty_or_unreadable_array_is_parked_whole_as_one_event(example_config, raw, code, reason):
    sqs = FakeSqs()

    report, kinesis = run(example_config, [("m1", raw)], sqs=sqs)

    [parked] = sqs.sent
    assert parked["MessageBody"] == raw and "sourceIndex" not in parked["MessageAttributes"]
    assert (
        parked["MessageAttributes"]["errorCode"]["StringValue"],
        parked["MessageAttributes"]["errorReason"]["StringValue"],
    ) == (code, reason)
    assert (report.received, report.rejected, report.failed_message_ids) == (1, 1, []) and kinesis.calls == []


def test_nested_arrays_and_elements_that_are_not_objects_are_parked_each_and_never_block_the_others(example_config):
    elements = [[profile_event("p0")], "event", profile_event("p2"), None]
    sqs = FakeSqs()

    report, kinesis = run(example_config, [("m1", json.dumps(elements))], sqs=sqs)

    assert [key for key, _ in kinesis.stream] == ["p2"]
    assert [e["MessageAttributes"]["errorReason"]["StringValue"] for e in sqs.sent] == [
        "[0] must be an event, not an array: arrays do not nest",
        "[1] must be a JSON object (an event, or an EventBridge envelope)",
        "[3] must be a JSON object (an event, or an EventBridge envelope)",
    ]
    assert [json.loads(e["MessageBody"]) for e in sqs.sent] == [[profile_event("p0")], "event", None]
    assert (report.received, report.exported, report.rejected, report.failed_message_ids) == (4, 1, 3, [])


def test_filtered_elements_are_counted_one_by_one(example_config):
    unmapped = profile_event("p1")
    unmapped["segmentMembership"]["ups"] = {}

    report, kinesis = run(example_config, [("m1", json.dumps([unmapped, unmapped, profile_event("p2")]))])

    assert (report.received, report.filtered, report.exported, report.failed_message_ids) == (3, 2, 1, [])
    assert [key for key, _ in kinesis.stream] == ["p2"]


def test_an_event_whose_time_overflows_in_utc_is_parked_alone_and_the_rest_of_its_batch_exported(example_config):
    # given a batch of valid events and one whose time the contract's pattern takes, but whose UTC is before year 1
    overflowing = profile_event("p-bad", event_id="bad")
    overflowing["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = "0001-01-01T00:00:00+01:00"
    messages = [(f"m{n}", body(profile_event(f"p{n}"))) for n in range(50)]
    messages.insert(25, ("m-bad", body(overflowing)))
    sqs = FakeSqs()

    # when the batch is exported
    report, kinesis = run(example_config, messages, sqs=sqs)

    # then only that event is rejected, with its reason, and every other message is acknowledged
    assert (report.exported, report.rejected, report.failed_message_ids) == (50, 1, [])
    assert len(kinesis.stream) == 50
    [parked] = sqs.sent
    assert parked["MessageAttributes"]["sourceMessageId"]["StringValue"] == "m-bad"
    assert parked["MessageAttributes"]["errorReason"]["StringValue"] == (
        "segmentMembership.ups.<segment>.lastQualificationTime: out of range once converted to UTC"
    )


class ExplodingPlan(RecordPlan):
    """A plan whose build fails, as no contract foresaw, for the event with the id "boom"."""

    def build(self, event):
        if event["eventId"] == "boom":
            raise RuntimeError("jane.doe@example.com broke it")
        return super().build(event)


@pytest.mark.parametrize(
    ("items", "prepare", "source", "reason"),
    [
        (
            [("m1", body(profile_event("p1"))), ("m2", body(profile_event("p2", event_id="boom")))],
            prepare_messages,
            "m2",
            "",
        ),
        (
            [("m1", json.dumps([profile_event("p1"), profile_event("p2", event_id="boom")]))],
            prepare_messages,
            ("m1", 1),
            "[1] ",
        ),
        (
            [(1, body(profile_event("p1")).encode()), (2, body(profile_event("p2", event_id="boom")).encode())],
            prepare_lines,
            2,
            "",
        ),
        ([(0, profile_event("p1")), (1, profile_event("p2", event_id="boom"))], prepare_items, 1, ""),
    ],
    ids=["body", "array element", "backfill line", "decoded item"],
)
def test_whatever_one_events_build_raises_is_its_own_reject_naming_only_the_exceptions_type(
    example_config, items, prepare, source, reason
):
    # given a body, an array's element, a backfill line or a Map item whose build raises an exception nobody foresaw
    # when the items are prepared
    prepared = prepare(items, ExplodingPlan(example_config))

    # then that event alone is rejected, by the exception's type (its message may quote the input)
    assert [(rejected, error.code, error.reason) for rejected, error in prepared.rejected] == [
        (source, "INVALID_EVENT", f"{reason}cannot be exported: RuntimeError")
    ]
    assert [record.partition_key for record in prepared.records] == ["p1"]


def test_a_body_whose_array_cannot_be_read_for_an_unforeseen_reason_is_rejected_whole(example_config, monkeypatch):
    def parse_array(body):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pipeline, "parse_array", parse_array)

    prepared = prepare_messages([("m1", "[{}]"), ("m2", body(profile_event("p2")))], RecordPlan(example_config))

    assert [(source, error.reason) for source, error in prepared.rejected] == [
        ("m1", "cannot be exported: RecursionError")
    ]
    assert len(prepared.records) == 1


@pytest.mark.parametrize(
    ("invalid", "parked_whole"), [(MAX_REJECTS_PER_MESSAGE, False), (MAX_REJECTS_PER_MESSAGE + 1, True)]
)
def test_an_array_with_too_many_invalid_elements_is_parked_whole_as_one_reject(example_config, invalid, parked_whole):
    sqs = FakeSqs()
    array = json.dumps([profile_event("valid", event_id="valid"), *([42] * invalid)])

    report, kinesis = run(example_config, [("m1", array)], sqs=sqs)

    assert report.failed_message_ids == []
    if parked_whole:
        assert [e["MessageBody"] for e in sqs.sent] == [array]
        assert report.rejections[0].reason.startswith(f"{invalid} of its {invalid + 1} elements are invalid")
        assert kinesis.stream == []
    else:
        assert len(sqs.sent) == invalid
        assert [key for key, _ in kinesis.stream] == ["valid"]


def test_an_invalid_element_is_parked_as_the_producer_wrote_it(example_config):
    sqs = FakeSqs()
    element = '{"eventId": 1e15,  "note": "caf\\u00e9"}'
    array = "[" + body(profile_event("valid")) + ", " + element + "]"

    report, _ = run(example_config, [("m1", array)], sqs=sqs)

    assert report.failed_message_ids == []
    assert [e["MessageBody"] for e in sqs.sent] == [element]


def _utc(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_event_written_has_its_latency_from_its_message_and_the_age_of_its_latest_qualification(example_config):
    # given messages sent 5 s and 7 s ago (one holding two events), qualified 1, 2 and 3 hours ago, one
    # with no SentTimestamp, and one whose record Kinesis refuses for good
    now = int(time.time())
    events = [profile_event(str(n), event_id=f"e{n}") for n in range(5)]
    for n, event in enumerate(events):
        event["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = _utc(now - 3600 * (n + 1))
    messages = [
        ("m1", body(events[0])),
        ("m2", json.dumps([events[1], events[2]])),
        ("m3", body(events[3])),
        ("m4", body(events[4])),
    ]
    sent_at = {"m1": (now - 5) * 1000, "m2": (now - 7) * 1000, "m4": (now - 9) * 1000}
    kinesis = FakeKinesis(lambda call, entries: {4: "KMSDisabledException"} if call == 1 else None)
    writer = KinesisWriter(kinesis, example_config.stream.name, sleep=lambda _: None)

    # when the batch is exported
    before = time.time()
    report = export_batch(messages, RecordPlan(example_config), writer, None, Deadline.after(30), sent_at=sent_at)
    after = time.time()

    # then each event written has one latency from its message's arrival to its write, and one age
    assert report.failed_message_ids == ["m4"] and report.exported == 4
    taken = after - before
    latencies = sorted(report.export_latencies_ms)
    assert len(latencies) == 3, "one per event written whose message has a SentTimestamp (m3 has none)"
    for latency, sent in zip(latencies, (now - 5, now - 7, now - 7), strict=True):
        assert (before - sent) * 1000 - 1 <= latency <= (before - sent + taken) * 1000 + 1
    ages = sorted(report.qualification_ages_ms)
    assert len(ages) == 4
    for age, hours in zip(ages, (1, 2, 3, 4), strict=True):
        assert (before - now + 3600 * hours) * 1000 - 1 <= age <= (before - now + 3600 * hours + taken) * 1000 + 1
    assert report.qualified_ahead == 0
    assert report.put_records_errors == {ErrorClass.KMS: 1}


def test_a_qualification_time_later_than_the_write_is_counted_and_aged_zero(example_config):
    # given an event qualified an hour from now (a producer's clock ahead), and one a minute ago
    now = int(time.time())
    ahead, behind = profile_event("1", event_id="e1"), profile_event("2", event_id="e2")
    ahead["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = _utc(now + 3600)
    behind["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = _utc(now - 60)

    # when both are written
    report, _ = run(example_config, [("m1", body(ahead)), ("m2", body(behind))])

    # then the one ahead is counted and its age is 0; the other keeps its own
    assert report.qualified_ahead == 1
    zero, minute = sorted(report.qualification_ages_ms)
    assert zero == 0 and 60_000 <= minute < 70_000
    assert report.export_latencies_ms == [], "no SentTimestamp given, no latency"


def test_records_kinesis_did_not_write_are_reported_by_error_class(example_config):
    faults = {1: client_error("ThrottlingException"), 2: {0: "ProvisionedThroughputExceededException"}}
    kinesis = FakeKinesis(lambda call, entries: faults.get(call))

    report, _ = run(example_config, [("m1", body(profile_event("1"))), ("m2", body(profile_event("2")))], kinesis)

    assert report.failed_message_ids == []
    assert report.put_records_errors == {ErrorClass.THROTTLED: 2 + 1}
