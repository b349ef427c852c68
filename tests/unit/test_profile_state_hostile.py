"""Profile state under hostile input and timing: far-future times, items of another layout, huge identity maps,
untimed backfills, values Python takes as equal, keys left unprocessed (each once a finding of #18's review)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from kinesis_export.backfill import export_items
from kinesis_export.deadline import Deadline
from kinesis_export.events import V1, V2, InvalidInput
from kinesis_export.pipeline import export_batch
from kinesis_export.profile_store import MAX_ROUNDS, DynamoProfileStore
from kinesis_export.profiles import ProfilePlan, Profiles, _seconds
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis, FakeProfileStore
from tests.unit.test_profile_state import (
    HIGH_PROPENSITY,
    NOW,
    enter,
    event,
    exporter_parts,
    record_json,
    settle,
    state,
    stateful,
    step,
)
from tests.unit.test_profile_store import FakeDynamoDB


def test_a_far_future_qualification_time_is_refused_so_it_cannot_hold_a_segment_against_every_later_exit():
    # given a producer whose clock went wrong once: a segment realized "in 9999", which would beat every later exit
    plan = ProfilePlan(stateful(), clock=lambda: NOW)
    ahead = event("e1", at="2020-05-25T10:00:00Z", segments={HIGH_PROPENSITY: ("realized", "9999-12-31T23:59:59Z")})

    # when it is read, then it is refused, as a timestamp that far ahead is, naming the field and not the value
    with pytest.raises(InvalidInput) as refused:
        plan.build(V2.parse_event(ahead))
    assert refused.value.reason == (
        "segmentMembership.ups.<segment>.lastQualificationTime: more than an hour ahead of the exporter's clock"
    )

    # and an hour ahead is still taken (clocks differ)
    within = event("e2", segments={HIGH_PROPENSITY: ("realized", _seconds(NOW + timedelta(minutes=59)))})
    assert plan.build(V2.parse_event(within)).segments[HIGH_PROPENSITY][0] == "realized"


def test_a_stored_item_of_another_layout_fails_only_its_profile_not_the_whole_batch():
    # given the real adapter over a table holding one item it cannot read: no expiresAt (written by hand, by a
    # restore tool, or by a later version that renamed an attribute)
    client = FakeDynamoDB()
    client.items["crm-prospects#BAD"] = {
        "profile": {"S": "crm-prospects#BAD"},
        "version": {"N": "1"},
        "state": {"B": b"{}"},
    }
    store = DynamoProfileStore(client, "profiles", "crm-prospects", sleep=lambda _: None)
    profiles = Profiles(ProfilePlan(stateful(), clock=lambda: NOW), store, 30, clock=NOW.timestamp)
    kinesis = FakeKinesis()
    writer = KinesisWriter(kinesis, "segment-exports", sleep=lambda _: None)
    messages = [("m1", json.dumps(enter("e1", "GOOD"))), ("m2", json.dumps(enter("e2", "BAD")))]

    # when a batch holds an event of that profile and one of another
    report = export_batch(messages, profiles.plan.records, writer, None, Deadline.after(10), profiles=profiles)

    # then only that profile's message fails (README: "a stored state this version cannot read ... fails its own
    # events only"); the batch is not raised whole (every message redelivered, every later batch holding the
    # profile failing whole too)
    assert report.failed_message_ids == ["m2"]
    assert [key for key, _ in kinesis.stream] == ["GOOD"]


def test_an_event_s_identity_map_is_read_in_time_linear_in_its_ids():
    # given one event with 20,000 ids in one namespace (about 420 KB; 17,000 short ids fit in a 256 KiB message)
    ids: list[dict[str, Any]] = [{"id": f"id-{n:06d}"} for n in range(20_000)]
    ids[0]["primary"] = True
    segments = {"ups": {HIGH_PROPENSITY: {"status": "realized", "lastQualificationTime": "2020-05-25T10:00:00Z"}}}
    body = json.dumps({"eventId": "big", "identityMap": {"ECID": ids}, "segmentMembership": segments})
    stateless = RecordPlan(stateful(profileState=None))
    plan = ProfilePlan(stateful(), clock=lambda: NOW)

    started = time.perf_counter()
    stateless.build(V1.parse_event(body))
    stateless_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plan.build(V2.parse_event(body))
    stateful_seconds = time.perf_counter() - started

    # then building its change costs about what building its stateless record does, not its square (2.3 s against
    # 0.07 s here: `if exported not in ids` on a list); CPU no deadline bounds, as the README says of reading
    assert stateful_seconds < 5 * stateless_seconds + 0.05, (stateful_seconds, stateless_seconds)


def test_an_untimed_backfill_line_does_not_undo_a_newer_change_event():
    # given a profile whose e-mail changed an hour ago (a timed change event)
    store = FakeProfileStore()
    profiles, writer, _ = exporter_parts(store)
    settle(profiles, enter("c1", "M", at="2020-05-31T23:00:00Z", attributes={"person": {"email": "new@example.com"}}))

    # when a backfill of members (exported from the source before that change, as backfill files are, without
    # `timestamp`: the README's backfill section never asks for one) seeds the state, or a Map batch is retried
    member = event(
        "b1",
        "M",
        segments={HIGH_PROPENSITY: ("realized", "2020-05-25T10:00:00Z")},
        attributes={"person": {"email": "old@example.com"}},
    )
    export_items([member], RecordPlan(stateful()), writer, Deadline.after(10), profiles)

    # then the newer change stays: a snapshot is older than what arrived after it was taken
    assert state(profiles, store, "M").attributes["person.email"][0] == "new@example.com"


def test_statuses_within_one_second_are_ordered_by_the_tie_rule_as_records_keep_times_to_the_second():
    # given a profile that exits and re-enters within one second, times to the millisecond
    store = FakeProfileStore()
    profiles = step(store)

    # when both arrive
    settle(
        profiles,
        event("e1", at="2020-05-25T10:00:00.100Z", segments={HIGH_PROPENSITY: ("exited", "2020-05-25T10:00:00.100Z")}),
        event(
            "e2", at="2020-05-25T10:00:00.900Z", segments={HIGH_PROPENSITY: ("realized", "2020-05-25T10:00:00.900Z")}
        ),
    )

    # then lastQualificationTime is kept to the second, as a record carries it, and at a tie exited wins (README,
    # "Merging": a tie never keeps a profile targeted that may have left)
    assert state(profiles, store).segments[HIGH_PROPENSITY] == ("exited", "2020-05-25T10:00:00Z")


def test_the_stored_state_does_not_depend_on_arrival_order_when_values_tie_as_equal_python_values():
    # given two events of one time whose values are different JSON but equal in Python (1 and true)
    def third_record(first: Any, second: Any) -> Any:
        store = FakeProfileStore()
        profiles = step(store)
        at = "2020-05-25T10:00:00Z"
        settle(profiles, enter("e0", at=at))
        settle(profiles, event("e1", at=at, attributes={"person": {"email": first}}))
        settle(profiles, event("e2", at=at, attributes={"person": {"email": second}}))
        [outcome] = settle(profiles, event("e3", at="2020-05-25T11:00:00Z", attributes={"person": {"phone": "x"}}))
        return record_json(outcome)["person"]["email"]

    # then later records carry the same value whichever came first (README: "a profile's events give the same state
    # in any order"); the write is skipped as "unchanged" because (true, t) == (1, t), so the table keeps the first
    assert json.dumps(third_record(1, True)) == json.dumps(third_record(True, 1))


def test_keys_unprocessed_every_round_are_not_followed_by_a_pause_after_the_last_round():
    # given a table that leaves every key unprocessed
    sleeps: list[float] = []
    client = FakeDynamoDB(unprocessed=10**6)
    store = DynamoProfileStore(client, "profiles", "crm-prospects", sleep=sleeps.append)

    # when one key is read
    store.read(["P"], Deadline.after(10))

    # then it pauses between rounds only: the pause after the last round (up to 0.8 s) is waited for nothing
    assert len(client.batches) == MAX_ROUNDS
    assert len(sleeps) == MAX_ROUNDS - 1
