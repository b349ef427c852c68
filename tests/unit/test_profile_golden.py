"""Golden sequences of change events (tests/golden/profile-state-sequences.json): each event's record, byte for byte.

Enter, attribute change, second segment, exits, an attribute while in no segment, out-of-order arrival,
duplicates, an attribute removed, identities merged, consent, an event without timestamp: each event
gives exactly the record pinned there (or is filtered with the reason pinned there), whether the events
come one invocation each or all in one batch.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kinesis_export.config import DestinationConfig, parse_config
from kinesis_export.deadline import Deadline
from kinesis_export.events import V2
from kinesis_export.pipeline import export_batch
from kinesis_export.profiles import ProfilePlan, Profiles
from kinesis_export.records import Record, Skip
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis, FakeProfileStore
from tests.support import EXAMPLE_CONFIG, ROOT

GOLDEN = json.loads((ROOT / "tests" / "golden" / "profile-state-sequences.json").read_text(encoding="utf-8"))
SEQUENCES = {sequence["name"]: sequence for sequence in GOLDEN["sequences"]}
NOW = datetime(2020, 6, 1, tzinfo=UTC)


def stateful_config() -> DestinationConfig:
    data = json.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    return parse_config({**data, "profileState": {"ttlDays": 30}})


def profile_state(store: FakeProfileStore | None = None) -> Profiles:
    """The profile state step over an in-memory table, its clocks at NOW."""
    plan = ProfilePlan(stateful_config(), clock=lambda: NOW)
    return Profiles(plan, store or FakeProfileStore(), 30, clock=NOW.timestamp)


def expected_records(sequence: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(sequence["partitionKey"], step["record"].encode()) for step in sequence["steps"] if "record" in step]


def test_the_golden_file_holds_every_kind_of_change_the_issue_names():
    names = " ".join(SEQUENCES)
    for kind in ("enter", "attribute change", "second segment", "exit", "out-of-order", "duplicate"):
        assert kind in names, kind


@pytest.mark.parametrize("name", SEQUENCES)
def test_each_change_event_gives_exactly_its_golden_record_or_reason(name):
    # given an empty profile state table
    sequence = SEQUENCES[name]
    profiles = profile_state()

    for step in sequence["steps"]:
        # when each event is merged into its profile's state, alone
        [outcome] = profiles.settle([profiles.plan.build(V2.parse_event(json.dumps(step["event"])))], Deadline.after(5))

        # then it gives the golden record, byte for byte, or is filtered for the golden reason
        if "record" in step:
            assert isinstance(outcome, Record), (step["event"]["eventId"], outcome)
            assert outcome.data.decode() == step["record"], step["event"]["eventId"]
            assert outcome.partition_key == sequence["partitionKey"]
        else:
            assert outcome == Skip(step["filtered"]), step["event"]["eventId"]


@pytest.mark.parametrize("name", SEQUENCES)
@pytest.mark.parametrize("batches", ["one invocation per event", "one batch"])
def test_the_stream_holds_the_golden_records_in_order_whether_events_come_one_by_one_or_in_one_batch(name, batches):
    # given the exporter with profile state, writing to a stream
    sequence = SEQUENCES[name]
    profiles = profile_state()
    kinesis = FakeKinesis()
    writer = KinesisWriter(kinesis, "segment-exports", sleep=lambda _: None)
    messages = [(f"m{n}", json.dumps(step["event"])) for n, step in enumerate(sequence["steps"])]

    # when the events are exported, each in an invocation of its own or all in one batch
    groups = [[message] for message in messages] if batches == "one invocation per event" else [messages]
    for group in groups:
        report = export_batch(group, profiles.plan.records, writer, None, Deadline.after(10), profiles=profiles)
        assert report.failures == {}

    # then the stream holds exactly the golden records, in the events' order
    assert kinesis.stream == expected_records(sequence)
