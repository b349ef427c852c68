"""Profile state: the merge (order-independent, idempotent), and the batch step over a fake table (reads, conditional
writes, conflicts, failures, deadline), through the pipeline and the backfill."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinesis_export import wiring
from kinesis_export.backfill import BackfillStopped, export_items
from kinesis_export.config import ConfigError, DestinationConfig, parse_config
from kinesis_export.deadline import Deadline
from kinesis_export.events import V2, InvalidInput
from kinesis_export.pipeline import export_batch
from kinesis_export.profiles import (
    MAX_IDS_PER_NAMESPACE,
    NOT_IN_SEGMENT,
    Change,
    ProfilePlan,
    Profiles,
    ProfileState,
    Stored,
    Unsettled,
)
from kinesis_export.queues import Queue
from kinesis_export.records import NO_MAPPED_IDENTITY, Record, RecordPlan
from kinesis_export.rejects import RejectsQueue
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeIngest, FakeKinesis, FakeProfileStore, FakeSqs
from tests.support import EXAMPLE_CONFIG, HIGH_PROPENSITY, WHITE_PAPER, PersonalData

NOW = datetime(2020, 6, 1, tzinfo=UTC)


def stateful(**changes: Any) -> DestinationConfig:
    data = json.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    return parse_config({**data, "profileState": {"ttlDays": 30}, **changes})


def event(
    event_id: str,
    ecid: str = "P",
    *,
    at: str | None = None,
    segments: dict[str, tuple[str, str]] | None = None,
    attributes: dict[str, Any] | None = None,
    identities: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """A change event of profile `ecid`: its segments as {id: (status, lastQualificationTime)}."""
    built: dict[str, Any] = {
        "eventId": event_id,
        "identityMap": identities or {"ECID": [{"id": ecid, "primary": True}]},
    }
    if segments:
        built["segmentMembership"] = {
            "ups": {
                segment: {"status": status, "lastQualificationTime": time}
                for segment, (status, time) in segments.items()
            }
        }
    if attributes is not None:
        built["attributes"] = attributes
    if at:
        built["timestamp"] = at
    return built


def enter(event_id: str, ecid: str = "P", at: str = "2020-05-25T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return event(event_id, ecid, at=at, segments={HIGH_PROPENSITY: ("realized", at)}, **extra)


def step(store: FakeProfileStore | None = None, config: DestinationConfig | None = None, **options: Any) -> Profiles:
    plan = ProfilePlan(config or stateful(), clock=lambda: NOW)
    return Profiles(plan, store or FakeProfileStore(), 30, clock=NOW.timestamp, sleep=lambda _: None, **options)


def changes(profiles: Profiles, *events: dict[str, Any]) -> list[Change]:
    built = [profiles.plan.build(V2.parse_event(json.dumps(e))) for e in events]
    assert all(isinstance(change, Change) for change in built), built
    return built  # type: ignore[return-value]


def settle(profiles: Profiles, *events: dict[str, Any], seconds: float = 5) -> list[Any]:
    return profiles.settle(changes(profiles, *events), Deadline.after(seconds))


def record_json(outcome: Any) -> Any:
    assert isinstance(outcome, Record), outcome
    return json.loads(outcome.data)


def canonical(state: ProfileState) -> str:
    return json.dumps(json.loads(state.encode()), sort_keys=True)


def state(profiles: Profiles, store: FakeProfileStore, key: str = "P") -> ProfileState:
    return profiles.plan.load(store.items[key].state)


# The merge


TIMES = [f"2020-05-25T10:0{n}:00Z" for n in range(4)]
change_events = st.lists(
    st.builds(
        lambda n, segment, status, qualified, at, email: event(
            f"e{n}",
            at=at,
            segments={segment: (status, qualified)} if segment else None,
            attributes={"person": {"email": email}} if email else None,
        ),
        st.integers(0, 10**6),
        st.sampled_from([None, HIGH_PROPENSITY, WHITE_PAPER]),
        st.sampled_from(["realized", "existing", "exited"]),
        st.sampled_from(TIMES),
        st.sampled_from(TIMES),
        # Values Python takes as equal (1 == 1.0 == True) that JSON, and the stream, tell apart.
        st.sampled_from([None, "a@example.com", "b@example.com", 1, 1.0, True]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(change_events, st.randoms(use_true_random=False))
def test_the_state_after_a_profile_s_events_does_not_depend_on_their_order_nor_on_repeats(events, random):
    profiles = step()
    ordered = changes(profiles, *events)
    shuffled = [*ordered, *random.sample(ordered, k=len(ordered) // 2)]
    random.shuffle(shuffled)

    def merged(these: list[Change]) -> ProfileState:
        result = ProfileState()
        for change in these:
            result = result.merged(change)
        return result

    # compared as JSON with sorted keys: == would take 1 for true
    assert canonical(merged(shuffled)) == canonical(merged(ordered))


def test_an_older_status_never_overwrites_a_newer_one_and_at_equal_times_exited_wins():
    profiles = step()
    exited, older, tie = changes(
        profiles,
        event("e1", segments={HIGH_PROPENSITY: ("exited", "2020-05-25T10:30:00Z")}),
        event("e2", segments={HIGH_PROPENSITY: ("realized", "2020-05-25T10:00:00Z")}),
        event("e3", segments={HIGH_PROPENSITY: ("existing", "2020-05-25T10:30:00Z")}),
    )

    merged = ProfileState().merged(exited).merged(older).merged(tie)

    assert merged.segments == {HIGH_PROPENSITY: ("exited", "2020-05-25T10:30:00Z")}
    assert ProfileState().merged(tie).merged(exited) == merged


def test_the_state_keeps_only_mapped_data_and_identities_as_exported():
    # given an event with an unmapped segment, an unmapped attribute and a raw e-mail address to be hashed
    store = FakeProfileStore()
    profiles = step(store)
    raw = "Jane.Doe@Example.com"
    at = "2020-05-25T10:00:00Z"
    settle(
        profiles,
        event(
            "e1",
            at=at,
            attributes={"person": {"name": {"firstName": "Jane"}}, "mobilePhone": {"number": "+15555550100"}},
            identities={"ECID": [{"id": "P", "primary": True}], "Email": [{"id": raw}], "Phone": [{"id": "+1555"}]},
            segments={"unmapped": ("realized", at), HIGH_PROPENSITY: ("realized", at)},
        ),
    )

    # then the stored state holds the mapped segment and attribute, and the address only hashed
    stored = store.items["P"].state.decode()
    assert raw.lower() not in stored.lower() and "Jane" not in stored and '+1555"' not in stored
    assert "unmapped" not in stored
    held = state(profiles, store)
    assert set(held.identities) == {"ecid", "email"}
    assert held.attributes == {"mobilePhone.number": ("+15555550100", "2020-05-25T10:00:00.000000Z")}


def test_a_namespace_keeps_the_ids_seen_most_recently():
    profiles = step()
    ids = [
        event(
            f"e{n}",
            at=f"2020-05-25T10:{n // 60:02d}:{n % 60:02d}Z",
            identities={"ECID": [{"id": "P", "primary": True}, {"id": f"device-{n:03d}"}]},
        )
        for n in range(MAX_IDS_PER_NAMESPACE + 5)
    ]

    merged = ProfileState()
    for change in changes(profiles, *ids):
        merged = merged.merged(change)

    assert len(merged.identities["ecid"]) == MAX_IDS_PER_NAMESPACE
    assert "P" in merged.identities["ecid"] and "device-054" in merged.identities["ecid"]
    assert "device-000" not in merged.identities["ecid"]


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2020-06-01T01:00:01Z", "timestamp: more than an hour ahead of the exporter's clock"),
        ("2020-02-30T10:00:00Z", "timestamp: not a valid date-time"),
    ],
)
def test_an_event_time_from_the_future_or_no_real_time_is_refused(timestamp, reason):
    with pytest.raises(InvalidInput) as raised:
        step().plan.build(V2.parse_event(json.dumps(event("e1", at=timestamp, attributes={}))))

    assert raised.value.reason == reason


def test_an_event_without_a_mapped_identity_is_filtered():
    built = step().plan.build(V2.parse_event(json.dumps(event("e1", identities={"Other": [{"id": "x"}]}))))

    assert built is NO_MAPPED_IDENTITY


# The batch step


def test_a_batch_reads_its_profiles_once_and_writes_each_changed_profile_once():
    store = FakeProfileStore()
    profiles = step(store)

    outcomes = settle(
        profiles,
        enter("e1", "A"),
        enter("e2", "B"),
        event("e3", "A", at="2020-05-25T10:01:00Z", attributes={"person": {"email": "a@example.com"}}),
    )

    assert store.reads == [["A", "B"]]
    assert sorted(store.puts) == ["A", "B"]
    assert [type(outcome) for outcome in outcomes] == [Record, Record, Record]
    assert record_json(outcomes[2])["person"] == {"email": "a@example.com"}


def test_an_attribute_change_of_a_profile_in_no_segment_is_filtered_but_kept():
    store = FakeProfileStore()
    profiles = step(store)

    [filtered] = settle(profiles, event("e1", at="2020-05-25T10:00:00Z", attributes={"person": {"email": "a@x.com"}}))
    [exported] = settle(profiles, enter("e2", at="2020-05-25T10:05:00Z"))

    assert filtered == NOT_IN_SEGMENT
    assert record_json(exported)["person"] == {"email": "a@x.com"}


def test_a_duplicate_writes_nothing_and_exports_the_state_again():
    store = FakeProfileStore()
    profiles = step(store)
    [first] = settle(profiles, enter("e1"))

    [again] = settle(profiles, enter("e1"))

    assert store.puts == ["P"] and store.items["P"].version == 1
    assert again == first


def test_an_unchanged_profile_is_written_again_once_a_tenth_of_its_time_to_live_is_gone():
    store = FakeProfileStore()
    profiles = step(store)
    settle(profiles, enter("e1"))
    written = store.items["P"]
    store.items["P"] = Stored(written.version, written.state, written.expires_at - 4 * 86_400)

    settle(profiles, enter("e1"))

    assert store.items["P"].version == 2 and store.items["P"].expires_at == written.expires_at


def test_an_expired_item_still_in_the_table_holds_nothing_and_is_overwritten_on_its_version():
    store = FakeProfileStore()
    profiles = step(store)
    settle(profiles, enter("e1", attributes={"person": {"email": "old@example.com"}}))
    expired = store.items["P"]
    store.items["P"] = Stored(expired.version, expired.state, int(NOW.timestamp()) - 1)

    [outcome] = settle(profiles, enter("e2", at="2020-05-25T09:00:00Z"))

    assert "person" not in record_json(outcome)
    assert store.items["P"].version == expired.version + 1


def test_a_conflicting_write_reads_the_profile_again_and_loses_no_update():
    # given another invocation that writes the profile (its e-mail) between this one's read and write
    store = FakeProfileStore()
    other = step(store)
    raced: list[str] = []

    def concurrent_writer(key: str) -> None:
        if not raced:
            raced.append(key)
            settle(other, event("o1", at="2020-05-25T10:05:00Z", attributes={"person": {"email": "b@example.com"}}))

    store.before_put = concurrent_writer
    profiles = step(store)

    # when this invocation merges an entry into a second segment
    [outcome] = settle(
        profiles, event("e1", at="2020-05-25T10:06:00Z", segments={WHITE_PAPER: ("realized", "2020-05-25T10:06:00Z")})
    )

    # then its write conflicted, it merged again, and both updates are in the state and in its record
    assert profiles.conflicts == 1
    assert record_json(outcome)["person"] == {"email": "b@example.com"}
    held = state(profiles, store)
    assert held.attributes["person.email"][0] == "b@example.com" and WHITE_PAPER in held.segments
    assert store.items["P"].version == 2


def test_a_profile_written_concurrently_every_time_fails_only_its_own_events():
    store = FakeProfileStore()

    def always_first(key: str) -> None:
        if key == "A":  # another writer gets there first, every time
            held = store.items.get(key)
            store.items[key] = Stored((held.version if held else 0) + 1, ProfileState().encode(), 2_000_000_000)

    store.before_put = always_first
    outcomes = settle(step(store), enter("e1", "A"), enter("e2", "B"))

    assert outcomes[0] == Unsettled("the profile was written concurrently 6 times in a row")
    assert isinstance(outcomes[1], Record)


def test_a_stored_state_that_cannot_be_read_fails_only_its_profile():
    store = FakeProfileStore()
    store.items["A"] = Stored(3, b'{"format": 99}', 2_000_000_000)

    outcomes = settle(step(store), enter("e1", "A"), enter("e2", "B"))

    assert isinstance(outcomes[0], Unsettled) and "cannot be read" in outcomes[0].reason
    assert isinstance(outcomes[1], Record)


def test_a_state_too_large_for_its_item_rejects_the_event_that_would_make_it_so_and_keeps_the_others():
    store = FakeProfileStore()
    profiles = step(store)
    huge = {"person": {"email": "x" * 400_000}}

    outcomes = settle(
        profiles,
        enter("e1"),
        event("e2", at="2020-05-25T10:01:00Z", attributes=huge),
        enter("e3", at="2020-05-25T10:02:00Z"),
    )

    assert isinstance(outcomes[1], InvalidInput) and outcomes[1].code == "RECORD_TOO_LARGE"
    assert "person" not in record_json(outcomes[2])
    assert "person.email" not in state(profiles, store).attributes


def test_a_non_finite_number_rejects_its_event_before_it_reaches_the_state():
    with pytest.raises(InvalidInput) as raised:
        step().plan.build(
            V2.parse_event(
                '{"eventId": "e", "identityMap": {"ECID": [{"id": "P"}]}, "attributes": {"mobilePhone": '
                '{"number": NaN}}}'
            )
        )

    assert raised.value.reason == "attributes.mobilePhone.number: a number JSON cannot hold (NaN or infinite)"


def test_a_config_that_maps_less_than_was_stored_exports_only_what_it_maps():
    # given a state stored under a config mapping both segments and the e-mail
    store = FakeProfileStore()
    settle(
        step(store),
        enter("e1", attributes={"person": {"email": "a@example.com"}}),
        event("e2", segments={WHITE_PAPER: ("realized", "2020-05-25T10:00:00Z")}),
    )

    # when a config that maps the first segment only, and no attribute, reads it
    narrower = stateful(segments=[{"id": HIGH_PROPENSITY}], attributes=[])
    [outcome] = settle(step(store, narrower), enter("e3", at="2020-05-25T10:05:00Z"))

    # then the record carries neither the second segment nor the e-mail
    assert list(record_json(outcome)) == ["segmentMembership", "identityMap"]
    assert list(record_json(outcome)["segmentMembership"]["ups"]) == [HIGH_PROPENSITY]


# Through the pipeline


def exporter_parts(
    store: FakeProfileStore, kinesis: FakeKinesis | None = None
) -> tuple[Profiles, KinesisWriter, FakeKinesis]:
    kinesis = kinesis or FakeKinesis()
    return step(store), KinesisWriter(kinesis, "segment-exports", sleep=lambda _: None), kinesis


def test_a_profile_whose_state_cannot_be_read_fails_only_its_messages_and_none_of_its_records_is_written():
    store = FakeProfileStore(fail_keys=frozenset({"A"}))
    profiles, writer, kinesis = exporter_parts(store)
    messages = [
        ("m1", json.dumps(enter("e1", "A"))),
        ("m2", json.dumps(enter("e2", "B"))),
        ("m3", json.dumps(enter("e3", "A", at="2020-05-25T10:01:00Z"))),
    ]

    report = export_batch(messages, profiles.plan.records, writer, None, Deadline.after(10), profiles=profiles)

    assert report.failed_message_ids == ["m1", "m3"]
    assert report.failures["m1"] == (
        "its profile's state: the profile state table: BatchGetItem failed: ProvisionedThroughputExceededException"
    )
    assert [key for key, _ in kinesis.stream] == ["B"]
    assert (report.received, report.exported) == (3, 1)


def test_a_profile_whose_state_cannot_be_written_fails_only_its_messages():
    store = FakeProfileStore(refuse_writes=frozenset({"A"}))
    profiles, writer, kinesis = exporter_parts(store)
    messages = [("m1", json.dumps(enter("e1", "A"))), ("m2", json.dumps(enter("e2", "B")))]

    report = export_batch(messages, profiles.plan.records, writer, None, Deadline.after(10), profiles=profiles)

    assert report.failed_message_ids == ["m1"]
    assert "ProvisionedThroughputExceededException" in report.failures["m1"]
    assert [key for key, _ in kinesis.stream] == ["B"] and "A" not in store.items


def test_an_array_whose_profiles_partly_failed_is_continued_with_the_failed_profile_s_elements_only():
    store = FakeProfileStore(refuse_writes=frozenset({"A"}))
    profiles, writer, kinesis = exporter_parts(store)
    ingest = FakeIngest()
    array = json.dumps([enter("e1", "A"), enter("e2", "B"), enter("e3", "A", at="2020-05-25T10:01:00Z")])

    report = export_batch(
        [("m1", array)],
        profiles.plan.records,
        writer,
        None,
        Deadline.after(10),
        ingest=Queue(ingest, "https://sqs.local/ingest"),
        profiles=profiles,
    )

    assert report.failed_message_ids == [] and report.continued == 1
    assert [e["eventId"] for e in json.loads(ingest.bodies[0])] == ["e1", "e3"]
    assert [key for key, _ in kinesis.stream] == ["B"]


def test_an_invalid_element_s_reject_names_its_index_and_its_neighbours_are_exported():
    store = FakeProfileStore()
    profiles, writer, _ = exporter_parts(store)
    sqs = FakeSqs()
    huge = event("e2", "A", at="2020-05-25T10:01:00Z", attributes={"person": {"email": "x" * 400_000}})
    array = json.dumps([enter("e1", "A"), huge, enter("e3", "B")])

    report = export_batch(
        [("m1", array)],
        profiles.plan.records,
        writer,
        RejectsQueue(Queue(sqs, "https://sqs.local/rejects")),
        Deadline.after(10),
        profiles=profiles,
    )

    assert report.failed_message_ids == [] and (report.exported, report.rejected) == (2, 1)
    [parked] = sqs.sent
    assert parked["MessageAttributes"]["errorReason"]["StringValue"].startswith("[1] the profile's state would be")


def test_the_store_s_calls_are_bounded_by_the_deadline():
    # given a table whose writes do not answer
    release = threading.Event()
    store = FakeProfileStore(before_put=lambda key: release.wait(30))
    profiles, writer, kinesis = exporter_parts(store)
    started = time.monotonic()

    # when a batch has 2 seconds
    report = export_batch(
        [("m1", json.dumps(enter("e1")))], profiles.plan.records, writer, None, Deadline.after(2), profiles=profiles
    )
    release.set()

    # then it answers in time, the message failed, nothing written
    assert time.monotonic() - started < 2.5
    assert report.failed_message_ids == ["m1"] and "deadline" in report.failures["m1"]
    assert kinesis.stream == []


def test_without_profile_state_no_table_is_touched(tmp_path, monkeypatch):
    # given the example destination, with no profileState, and a table at hand
    store = FakeProfileStore()
    monkeypatch.setenv("PROFILE_TABLE_NAME", "profiles")
    exporter = wiring.exporter(
        {"DESTINATION_CONFIG_FILE": str(EXAMPLE_CONFIG)}, kinesis=FakeKinesis(), sqs=FakeSqs(), profile_store=store
    )

    # when a batch is exported
    report = export_batch(
        [("m1", json.dumps(enter("e1")))],
        exporter.plan,
        exporter.writer,
        None,
        Deadline.after(10),
        profiles=exporter.profiles,
    )

    # then the stateless path ran: no profile step, no read, no write
    assert exporter.profiles is None and report.exported == 1
    assert store.reads == [] and store.puts == []


def test_a_function_with_profile_state_and_no_table_refuses_to_start(tmp_path):
    config = tmp_path / "destination.json"
    config.write_text(json.dumps({**json.loads(EXAMPLE_CONFIG.read_text()), "profileState": {"ttlDays": 30}}))

    with pytest.raises(ConfigError) as raised:
        wiring.exporter({"DESTINATION_CONFIG_FILE": str(config)}, kinesis=FakeKinesis(), sqs=FakeSqs())

    assert raised.value.problems == ["PROFILE_TABLE_NAME: required when the config sets profileState"]


# The backfill worker


def test_a_backfill_batch_seeds_the_state_so_that_a_later_change_event_makes_a_full_record():
    # given the current members of a segment, with their e-mail, backfilled
    store = FakeProfileStore()
    profiles, writer, _ = exporter_parts(store)
    members = [enter(f"b{n}", f"M{n}", attributes={"person": {"email": f"m{n}@example.com"}}) for n in range(3)]
    result = export_items(members, RecordPlan(stateful()), writer, Deadline.after(10), profiles)
    assert result["exported"] == 3

    # when a change event says only that one member entered the second segment
    later = event("c1", "M1", at="2020-05-25T11:00:00Z", segments={WHITE_PAPER: ("realized", "2020-05-25T11:00:00Z")})
    [outcome] = settle(profiles, later)

    # then its record carries both segments and the backfilled e-mail
    record = record_json(outcome)
    assert record["person"] == {"email": "m1@example.com"}
    assert list(record["segmentMembership"]["ups"]) == [HIGH_PROPENSITY, WHITE_PAPER]


def test_a_backfill_batch_whose_states_cannot_be_written_stops_before_its_records():
    store = FakeProfileStore(refuse_writes=frozenset({"M1"}))
    profiles, writer, kinesis = exporter_parts(store)

    with pytest.raises(BackfillStopped) as raised:
        export_items(
            [enter("b0", "M0"), enter("b1", "M1")], RecordPlan(stateful()), writer, Deadline.after(10), profiles
        )

    assert str(raised.value).startswith("1 profile states not written: the profile state table failed:")
    assert kinesis.stream == []


def test_a_batch_with_no_event_for_the_state_calls_no_table():
    store = FakeProfileStore()

    assert step(store).settle([], Deadline.after(5)) == []
    assert store.reads == []


def test_reasons_of_the_state_s_failures_and_rejects_hold_no_personal_data():
    # given events full of marked personal values: one profile's table refuses writes, another's state would grow
    # too large, a third's stored state cannot be read
    pii = PersonalData()
    a, b, c = pii.mark(), pii.mark(), pii.mark()
    store = FakeProfileStore(refuse_writes=frozenset({a}))
    store.items[c] = Stored(1, b'{"format": "' + pii.mark("email").encode() + b'"}', 2_000_000_000)
    profiles, writer, _ = exporter_parts(store)
    sqs = FakeSqs()
    messages = [
        ("m1", json.dumps(enter("e1", a, attributes={"person": {"email": pii.mark("email")}}))),
        (
            "m2",
            json.dumps(
                event("e2", b, at="2020-05-25T10:00:00Z", attributes={"person": {"email": pii.mark() * 40_000}})
            ),
        ),
        ("m3", json.dumps(enter("e3", c))),
    ]

    # when they are exported
    report = export_batch(
        messages,
        profiles.plan.records,
        writer,
        RejectsQueue(Queue(sqs, "https://sqs.local/rejects")),
        Deadline.after(10),
        profiles=profiles,
    )

    # then each failure and reject says why, and none quotes the input
    assert report.failed_message_ids == ["m1", "m3"] and report.rejected == 1
    reasons = [*report.failures.values(), *(r.reason for r in report.rejections)]
    assert pii.found_in(" ".join(reasons)) == []
