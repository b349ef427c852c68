"""Profile state (#18) with #17's features: FIFO ingest's group order, the latency and profile state metrics,
the stream's own record size, and the message groups the local tools give."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from kinesis_export import metrics as names
from kinesis_export import wiring
from kinesis_export.config import parse_config
from kinesis_export.deadline import Deadline
from kinesis_export.events import V1
from kinesis_export.pipeline import GROUP_ORDER_REASON, export_batch
from kinesis_export.profiles import ProfilePlan, ProfileState, Stored
from kinesis_export.queues import Queue
from kinesis_export.records import Record, RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.local import LambdaContext, message_group_id, profile_plan, sqs_lambda_event
from tests.fakes import FakeKinesis, FakeProfileStore, FakeSqs
from tests.support import EXAMPLE_CONFIG, HIGH_PROPENSITY, WHITE_PAPER, emitted_metrics, handler_module
from tests.unit.test_profile_state import changes, enter, event, exporter_parts, settle, stateful, step

REJECTS_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/rejects"


def _ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000


# QualificationAge and ExportLatency


def test_a_record_of_the_state_is_qualified_as_of_its_event_s_own_segments():
    # given a profile that enters a segment, changes its e-mail, enters a second segment, then an older
    # entry into the first arrives late
    profiles = step()
    outcomes = settle(
        profiles,
        enter("e1", at="2020-05-25T10:00:00Z"),
        event("e2", at="2020-05-25T10:01:00Z", attributes={"person": {"email": "a@example.com"}}),
        event("e3", at="2020-05-25T10:02:00Z", segments={WHITE_PAPER: ("existing", "2020-05-25T10:02:00Z")}),
        event("e4", at="2020-05-25T09:00:00Z", segments={HIGH_PROPENSITY: ("realized", "2020-05-25T09:00:00Z")}),
    )

    # then each record's qualification time is the latest of its event's mapped segments (as a stateless
    # record's), not the state's: the attribute change has none, whatever segments its record carries
    assert all(isinstance(outcome, Record) for outcome in outcomes)
    assert [outcome.qualified for outcome in outcomes] == [
        "2020-05-25T10:00:00Z",
        "",
        "2020-05-25T10:02:00Z",
        "2020-05-25T09:00:00Z",
    ]
    assert HIGH_PROPENSITY in json.loads(outcomes[1].data)["segmentMembership"]["ups"]


def test_the_handler_with_profile_state_prints_latency_age_and_the_profile_state_metrics(tmp_path, capsys):
    # given an exporter with profileState over a fake table
    config = tmp_path / "destination.json"
    config.write_text(json.dumps({**json.loads(EXAMPLE_CONFIG.read_text()), "profileState": {"ttlDays": 30}}))
    kinesis = FakeKinesis()
    exporter = wiring.exporter(
        {"DESTINATION_CONFIG_FILE": str(config), "AWS_REGION": "us-east-1"},
        kinesis=kinesis,
        sqs=FakeSqs(),
        profile_store=FakeProfileStore(),
    )
    handler = handler_module("export").handler_for(exporter)
    sent = int(time.time() * 1000) - 2000
    bodies = [
        enter("e1", at="2020-05-25T10:00:00Z"),
        event("e2", at="2020-05-25T10:01:00Z", attributes={"person": {"email": "a@example.com"}}),
    ]
    messages = [
        {
            "MessageId": f"m{n}",
            "ReceiptHandle": f"r{n}",
            "Body": json.dumps(b),
            "Attributes": {"SentTimestamp": str(sent)},
        }
        for n, b in enumerate(bodies)
    ]
    capsys.readouterr()

    # when it takes a segment entry and an attribute change of one profile
    answer = handler(
        sqs_lambda_event(messages, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1"), LambdaContext()
    )

    # then both records are written, each with its latency, the entry alone with its qualification age
    assert answer == {"batchItemFailures": []} and len(kinesis.stream) == 2
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics.keys() == set(names.EXPORTER) - {names.EVENTS_DUPLICATE}
    assert len(metrics[names.EXPORT_LATENCY]) == 2 and all(2000 <= v < 12_000 for v in metrics[names.EXPORT_LATENCY])
    [age] = metrics[names.QUALIFICATION_AGE]
    assert age == pytest.approx(time.time() * 1000 - _ms("2020-05-25T10:00:00Z"), abs=10_000)
    assert (metrics[names.PROFILE_STATE_CONFLICTS], metrics[names.PROFILE_STATE_FAILURES]) == ([0], [0])


# The profile state's failures and conflicts, counted; FIFO's group order


def test_a_profile_whose_state_failed_holds_back_the_later_messages_of_its_group():
    # given the table refuses profile A's read; m1 (A) and m2 (B) are of group g1, m3 (C) of group g2
    store = FakeProfileStore(fail_keys=frozenset({"A"}))
    profiles, writer, kinesis = exporter_parts(store)
    messages = [
        ("m1", json.dumps(enter("e1", "A"))),
        ("m2", json.dumps(enter("e2", "B"))),
        ("m3", json.dumps(enter("e3", "C"))),
    ]

    # when the batch is exported as from a FIFO queue
    report = export_batch(
        messages,
        profiles.plan.records,
        writer,
        None,
        Deadline.after(10),
        groups={"m1": "g1", "m2": "g1", "m3": "g2"},
        profiles=profiles,
    )

    # then m1 fails for its profile's state, m2 is held behind it (its state and record written all the same,
    # written again after m1's on redelivery), and group g2 goes on
    assert report.failed_message_ids == ["m1", "m2"]
    assert report.failures["m1"].startswith("its profile's state: the profile state table:")
    assert report.failures["m2"] == GROUP_ORDER_REASON
    assert sorted(key for key, _ in kinesis.stream) == ["B", "C"]
    # and the failure is counted by event
    assert (report.profile_failures, report.profile_conflicts) == (1, 0)


def test_a_write_that_found_another_version_is_counted_as_a_conflict():
    # given another invocation that writes profile P once between this batch's read and its write
    store = FakeProfileStore()
    raced: list[str] = []

    def concurrent_writer(key: str) -> None:
        if not raced:
            raced.append(key)
            held = store.items.get(key)
            store.items[key] = Stored((held.version if held else 0) + 1, ProfileState().encode(), 2_000_000_000)

    store.before_put = concurrent_writer
    profiles, writer, kinesis = exporter_parts(store)

    report = export_batch(
        [("m1", json.dumps(enter("e1")))], profiles.plan.records, writer, None, Deadline.after(10), profiles=profiles
    )

    # then the batch read and merged again, wrote, and counts the conflict; none failed
    assert report.failed_message_ids == [] and len(kinesis.stream) == 1
    assert (report.profile_conflicts, report.profile_failures) == (1, 0)
    # a second batch counts its own conflicts only
    again = export_batch(
        [("m2", json.dumps(enter("e2", at="2020-05-25T10:05:00Z")))],
        profiles.plan.records,
        writer,
        None,
        Deadline.after(10),
        profiles=profiles,
    )
    assert again.profile_conflicts == 0


# The stream's record size, and the state's own cap


def _many_long_segments(**stream: Any) -> Any:
    """The example with profileState and 1,000 mapped segments of 1,024-character names, each name in its
    records: a profile in all of them has a state of some 80 KB (within the 350 KB cap) and records over 1 MiB."""
    data = json.loads(EXAMPLE_CONFIG.read_text())
    data["segments"] = [{"id": f"s{n:04}", "name": "n" * 1024} for n in range(1000)]
    data["includeSegmentNames"] = True
    data["stream"] = {**data["stream"], **stream}
    return parse_config({**data, "profileState": {"ttlDays": 30}})


def _in_every_segment(event_id: str) -> dict[str, Any]:
    at = "2020-05-25T10:00:00Z"
    return event(event_id, at=at, segments={f"s{n:04}": ("realized", at) for n in range(1000)})


def test_a_record_of_the_state_over_the_stream_s_record_size_is_rejected_naming_stream_max_record_size_kib():
    # given a destination whose records of a profile in every segment are over 1 MiB, its stream's default
    store = FakeProfileStore()
    profiles = step(store, _many_long_segments())

    # when a profile enters every segment
    [outcome] = settle(profiles, _in_every_segment("e1"))

    # then its event is rejected, as the stream takes no such record, and the state is not changed by it
    assert outcome.code == "RECORD_TOO_LARGE"
    assert outcome.reason.endswith("stream segment-exports takes at most 1048576 (stream.maxRecordSizeKiB: 1024)")
    assert store.puts == []


def test_a_stream_of_larger_records_takes_the_record_of_that_state_and_the_state_keeps_its_own_cap():
    # given the same destination on a stream that takes 2 MiB records
    store = FakeProfileStore()
    profiles = step(store, _many_long_segments(maxRecordSizeKiB=2048))

    # when a profile enters every segment, then an attribute would make its state over 350 KB
    entered, huge = settle(
        profiles,
        _in_every_segment("e1"),
        event("e2", at="2020-05-25T10:01:00Z", attributes={"person": {"email": "x" * 400_000}}),
    )

    # then the first record, over 1 MiB, is exported, and the state's cap still rejects the second event
    assert isinstance(entered, Record) and 1024 * 1024 < entered.size <= 2048 * 1024
    assert huge.code == "RECORD_TOO_LARGE" and "its table keeps at most" in huge.reason
    assert store.puts == ["P"]


def test_a_record_of_the_state_over_1_mib_goes_through_the_writer_alone():
    # given the 2 MiB stream's records of two profiles, one in every segment
    profiles = step(FakeProfileStore(), _many_long_segments(maxRecordSizeKiB=2048))
    kinesis = FakeKinesis()
    writer = KinesisWriter(kinesis, "segment-exports", sleep=lambda _: None)
    sqs = FakeSqs()

    report = export_batch(
        [("m1", json.dumps(_in_every_segment("e1"))), ("m2", json.dumps(event("e2", "Q", segments=_one())))],
        profiles.plan.records,
        writer,
        RejectsQueue(Queue(sqs, REJECTS_URL)),
        Deadline.after(10),
        profiles=profiles,
    )

    # then both are written, in calls of their own (a record over 1 MiB goes alone)
    assert report.failed_message_ids == [] and report.exported == 2 and sqs.sent == []
    assert report.put_records_calls == 2


def _one() -> dict[str, tuple[str, str]]:
    return {"s0000": ("realized", "2020-05-25T10:00:00Z")}


# The partition key


@pytest.mark.parametrize("ecid", ["7" * 256, "ü" * 129, "\U0001f600" * 65, "7" * 257])
def test_a_profile_is_keyed_as_its_records_are_hashed_over_256_bytes_in_utf_8(ecid):
    # given profiles whose ids are 256 ASCII characters, or fewer but over 256 bytes in UTF-8, or longer
    profiles = step()

    [change] = changes(profiles, enter("e1", ecid))
    [outcome] = profiles.settle([change], Deadline.after(5))

    # then the state's key is the record's partition key, as the stateless record would have it
    stateless = RecordPlan(stateful()).build(V1.parse_event(json.dumps(enter("e1", ecid))))
    assert isinstance(outcome, Record) and isinstance(stateless, Record)
    assert change.key == outcome.partition_key == stateless.partition_key
    assert len(change.key.encode()) <= 256
    assert (change.key == ecid) == (len(ecid.encode()) <= 256)


# The message groups of the local tools


def test_with_profile_state_a_message_of_attributes_only_is_in_its_profile_s_group():
    # given the example with profileState: an entry, and an e-mail change (contract v2: no segmentMembership)
    plan = profile_plan(stateful())
    entry = json.dumps(enter("e1", "14575006536349286404619648085736425115"))
    change = json.dumps(
        event("e2", "14575006536349286404619648085736425115", attributes={"person": {"email": "a@example.com"}})
    )

    # then both are of the profile's group, the SHA-256 of its records' partition key
    assert isinstance(plan, ProfilePlan)
    profile = hashlib.sha256(b"14575006536349286404619648085736425115").hexdigest()
    assert message_group_id(entry, plan) == message_group_id(change, plan) == profile
