"""Generated hostile input through the whole handler (moto's Kinesis and SQS over HTTP), the backfill
preparation and the Map worker: the promise holds for whatever an event holds.

Every generated event carries a profile id of its own as its primary identity, so its record is
found on the stream by its partition key. A *valid* event (hostile only in ways the contract
allows: times at the calendar's edges, odd keys where they are ignored, big finite numbers, deep
nesting within the parser's limit) must be on the stream. A *hostile* one must be on the stream or
in the rejects queue, never both, never neither. A hostile part that makes the whole body
unreadable (a number too long for the parser, nesting past its limit) parks the whole message, as
one reject. The pipeline is created once per test; each example uses its own profile ids.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinesis_export.backfill import export_items
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import prepare_lines
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.local import LambdaContext, read_stream, receive_all, sqs_lambda_event
from tests.fakes import FakeKinesis
from tests.support import HIGH_PROPENSITY, WHITE_PAPER, strict_json

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
CODES = {"INVALID_JSON", "INVALID_EVENT", "RECORD_TOO_LARGE"}

# JSON's own number and nesting extremes are written into the body's text as they are: a placeholder
# string in the generated value is replaced by the raw text after encoding.
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
FINITE_EXTREMES = ["1e308", "-0", "1e-400", "5e-324", "1" + "0" * 400, "-" + "9" * 400]
PARSER_BREAKING = ["1" + "0" * 5000]  # past the parser's number length: the whole body is not JSON
NEAR_DEPTH, PAST_DEPTH = 185, 210  # the parser takes about 200 levels, the whole body's

VALID_TIMES = [
    "2020-05-25T21:24:39Z",
    "2020-05-25t21:24:39z",
    "2020-05-25 21:24:39.123456789012345678901234567890+14:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T22:59:59.999999999-01:00",
    "2016-12-31T23:59:59-23:59",
]
HOSTILE_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:59:59.999+01:00",
    "9999-12-31T23:59:59-00:01",
    "2016-12-31T23:59:60Z",
    "2020-05-25T21:24:39+24:00",
    "2020-13-01T00:00:00Z",
    "2020-02-30T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2020-05-25T21:24:39",
    "2020-05-25T21:24:39.Z",
]
ODD_KEYS = ["", "ü-ñ-日本", "\u0000", "\t\n", "k" * 5000, "detail-type", "__proto__", "eventId", "a.b", "<key>"]
LONE_SURROGATES = ["\ud800", "\udfff\ud800", "a\udc00"]  # escaped in the body: the parser refuses them


def deep(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"d": value}
    return value


@dataclass
class Raw:
    """JSON text put into a body as it is (a number JSON parsers differ on, nesting past a limit)."""

    text: str


@dataclass
class Event:
    profile: str  # its primary identity's id: its record's partition key
    value: dict[str, Any]
    valid: bool
    breaks_body: bool = False  # its text makes the whole body unreadable


def to_text(value: Any) -> str:
    """JSON text, with each Raw put in as it is; escaped to ASCII, so every body is one SQS takes."""
    raws: list[str] = []

    def placeholders(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x01raw{len(raws) - 1}\x01"
        if isinstance(value, dict):
            return {key: placeholders(child) for key, child in value.items()}
        if isinstance(value, list):
            return [placeholders(child) for child in value]
        return value

    text = json.dumps(placeholders(value))
    return re.sub(r'"\\u0001raw(\d+)\\u0001"', lambda match: raws[int(match.group(1))], text)


def base_event(profile: str) -> dict[str, Any]:
    return {
        "eventId": f"evt-{profile}",
        "identityMap": {"ECID": [{"id": profile, "primary": True}]},
        "segmentMembership": {
            "ups": {HIGH_PROPENSITY: {"status": "realized", "lastQualificationTime": VALID_TIMES[0]}}
        },
        "attributes": {"person": {"email": "someone@example.com"}},
    }


wrong_types = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(NON_FINITE + FINITE_EXTREMES).map(Raw)
)
json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
odd_keys = st.sampled_from(ODD_KEYS) | st.text(max_size=8)
odd_values = st.recursive(
    json_leaves | st.sampled_from(NON_FINITE + FINITE_EXTREMES).map(Raw),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(odd_keys, children, max_size=3),
    max_leaves=8,
)


CONFIGURED = {"person", "mobilePhone", "email", "name"}  # the example config's attribute path parts


@st.composite
def valid_events(draw: st.DrawFn, profile: str) -> Event:
    """Hostile only where the contract allows it: the event must be exported."""
    event = base_event(profile)
    ups = event["segmentMembership"]["ups"]
    ups[HIGH_PROPENSITY]["lastQualificationTime"] = draw(st.sampled_from(VALID_TIMES))
    ups[HIGH_PROPENSITY]["status"] = draw(st.sampled_from(["realized", "existing", "exited"]))
    for key in draw(st.lists(odd_keys, max_size=2)):  # unmapped segments, with a valid membership
        ups.setdefault(key, {"status": "exited", "lastQualificationTime": draw(st.sampled_from(VALID_TIMES))})
    if draw(st.booleans()):
        ups[WHITE_PAPER] = {"status": "existing", "lastQualificationTime": draw(st.sampled_from(VALID_TIMES))}
    for key in draw(st.lists(odd_keys, max_size=2)):  # unconfigured namespaces
        if key.lower() not in ("ecid", "email", "email_lc_sha256"):
            event["identityMap"].setdefault(key, [{"id": draw(st.text(min_size=1, max_size=20))}])
    attributes = event["attributes"]
    # Anything, non-finite numbers included, where the config does not look: not exported.
    unconfigured = st.dictionaries(odd_keys.filter(lambda key: key not in CONFIGURED), odd_values, max_size=3)
    attributes.update(draw(unconfigured))
    attributes["person"].update(draw(unconfigured))
    exported = draw(
        st.sampled_from(FINITE_EXTREMES).map(Raw)
        | st.text()
        | st.dictionaries(odd_keys, json_leaves, max_size=3)
        | st.just(deep(NEAR_DEPTH))
    )
    attributes["person"]["email"] = exported
    for key in draw(st.lists(odd_keys, max_size=2)):  # fields the contract does not name
        if key not in event and key != "detail":
            event[key] = draw(odd_values)
    return Event(profile, event, valid=True)


WRONG_TYPE_AT = [
    ("eventId",),
    ("identityMap",),
    ("identityMap", "ECID"),
    ("identityMap", "ECID", 0),
    ("identityMap", "ECID", 0, "id"),
    ("identityMap", "ECID", 0, "primary"),
    ("segmentMembership",),
    ("segmentMembership", "ups"),
    ("segmentMembership", "ups", HIGH_PROPENSITY),
    ("segmentMembership", "ups", HIGH_PROPENSITY, "status"),
    ("segmentMembership", "ups", HIGH_PROPENSITY, "lastQualificationTime"),
    ("attributes",),
    ("attributes", "person"),
]


@st.composite
def hostile_events(draw: st.DrawFn, profile: str) -> Event:
    """Exported or rejected, never both, never neither (no mutation can make it filtered)."""
    event = draw(valid_events(profile)).value
    kind = draw(st.sampled_from(["time", "non-finite", "wrong type", "too deep", "too long a number", "surrogate"]))
    if kind == "time":
        time = draw(st.sampled_from(HOSTILE_TIMES))
        event["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = time
    elif kind == "non-finite":
        value = Raw(draw(st.sampled_from(NON_FINITE)))
        event["attributes"]["person"]["email"] = draw(
            st.sampled_from([value, [1, value], {draw(odd_keys): value}, deep(20, value)])
        )
    elif kind == "wrong type":
        *parents, last = draw(st.sampled_from(WRONG_TYPE_AT))
        node = event
        for part in parents:
            node = node[part]
        # Never an object or an array (an empty one could make the event a filtered one), never a
        # string (an identity's id would be exported under another partition key).
        node[last] = draw(wrong_types)
    elif kind == "too deep":
        event["attributes"][draw(odd_keys)] = deep(PAST_DEPTH)
    elif kind == "too long a number":
        event["attributes"][draw(odd_keys)] = Raw(draw(st.sampled_from(PARSER_BREAKING)))
    else:
        surrogate = draw(st.sampled_from(LONE_SURROGATES))
        where = draw(st.sampled_from([event["attributes"], event["identityMap"], event]))
        where[surrogate] = draw(st.sampled_from([[{"id": "x"}], surrogate]))
    return Event(profile, event, valid=False, breaks_body=kind in ("too deep", "too long a number", "surrogate"))


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0", "detail-type": "Segment Qualification", "source": "ü\u0000", "detail": event}


@dataclass
class Message:
    message_id: str
    events: list[Event]
    array: bool
    body: str = field(init=False)

    def __post_init__(self) -> None:
        values = [event.value for event in self.events]
        self.body = to_text(values if self.array else values[0])


@st.composite
def batches(draw: st.DrawFn) -> list[Message]:
    run = uuid.uuid4().hex[:8]
    count = 0

    def event() -> Event:
        nonlocal count
        count += 1
        profile = f"{run}-{count}"
        made = draw(valid_events(profile) | hostile_events(profile))
        if draw(st.booleans()):
            made.value = envelope(made.value)
        return made

    messages = []
    for _ in range(draw(st.integers(1, 6))):
        array = draw(st.booleans())
        events = [event() for _ in range(draw(st.integers(1, 4)) if array else 1)]
        messages.append(Message(f"{run}-m{len(messages)}", events, array))
    return messages


def lambda_event(messages: list[Message]) -> dict[str, Any]:
    raw = [{"MessageId": m.message_id, "ReceiptHandle": m.message_id, "Body": m.body} for m in messages]
    return sqs_lambda_event(raw, "arn:aws:sqs:us-east-1:123456789012:ingest", "us-east-1")


@pytest.fixture
def pipeline(start_pipeline):
    """One pipeline for all of a test's examples: each example's events have profile ids of their own."""
    return start_pipeline()


@SETTINGS
@given(batch=batches())
def test_whatever_a_batch_holds_the_handler_answers_and_every_event_is_exported_or_parked(pipeline, batch):
    # given a batch mixing valid events with hostile ones, bare, enveloped and in arrays
    # when the handler takes it
    answer = pipeline.handler(lambda_event(batch), LambdaContext())

    # then it answers, and every message is acknowledged: its events written or parked (the rejects queue takes all)
    assert answer == {"batchItemFailures": []}
    run = batch[0].message_id.split("-m")[0]
    stream: dict[str, list[bytes]] = {}
    for record in read_stream(pipeline.kinesis, pipeline.stream_name):
        if record.partition_key.startswith(f"{run}-"):
            stream.setdefault(record.partition_key, []).append(record.data)
    rejects: dict[tuple[str, int | None], tuple[str, str]] = {}
    for parked in receive_all(pipeline.sqs, pipeline.rejects_url):
        attributes = parked["MessageAttributes"]
        index = attributes.get("sourceIndex")
        where = (attributes["sourceMessageId"]["StringValue"], int(index["StringValue"]) if index else None)
        assert where not in rejects, "each invalid event is parked once"
        rejects[where] = (attributes["errorCode"]["StringValue"], attributes["errorReason"]["StringValue"])

    expected_rejects = set()
    for message in batch:
        if any(event.breaks_body for event in message.events):
            # a body the parser cannot read is parked whole, as one reject; none of its events is written
            expected_rejects.add((message.message_id, None))
            assert not any(event.profile in stream for event in message.events)
            continue
        for position, event in enumerate(message.events):
            where = (message.message_id, position if message.array else None)
            written = event.profile in stream
            if event.valid:
                assert written and where not in rejects, f"a valid event is exported: {event.value}"
            else:
                assert written != (where in rejects), "a hostile event is exported or parked, never both or neither"
            if where in rejects:
                expected_rejects.add(where)
    assert set(rejects) == expected_rejects
    for code, reason in rejects.values():
        assert code in CODES and reason
    # and every record written is standard JSON, once per event
    for data in stream.values():
        assert len(data) == 1
        strict_json(data[0])


def backfill_lines(batch: list[Message]) -> list[tuple[int, bytes]]:
    """The batch's events as backfill lines: one event per line (an array is one line, rejected as such)."""
    return [(number, message.body.encode()) for number, message in enumerate(batch, start=1)]


@SETTINGS
@given(batch=batches())
def test_whatever_a_backfill_line_holds_it_is_exported_filtered_or_rejected_and_nothing_raises(example_config, batch):
    # given hostile lines, as the backfill reader gives them (bytes, one event each)
    lines = backfill_lines(batch)

    # when they are prepared
    prepared = prepare_lines(lines, RecordPlan(example_config))

    # then each line is accounted for once, every valid single event is a record, and every record is standard JSON
    assert prepared.received == len(lines) and not prepared.filtered
    rejected = {number for number, _ in prepared.rejected}
    for (number, _), message in zip(lines, batch, strict=True):
        if not message.array and message.events[0].valid:
            assert number not in rejected
        if message.array:
            assert number in rejected  # backfill lines hold one event, never an array
    for record in prepared.records:
        strict_json(record.data)
    assert all(error.code in CODES and error.reason for _, error in prepared.rejected)


@SETTINGS
@given(batch=batches(), too_deep=st.booleans())
def test_whatever_a_map_item_holds_the_worker_exports_or_reports_it_and_nothing_raises(example_config, batch, too_deep):
    # given Map items as Step Functions decodes them: Python values, where the parser took the text
    items: list[Any] = []
    for message in batch:
        try:
            items.append(json.loads(message.body))
        except (ValueError, RecursionError):  # what no JSON reader would decode either
            items.append(message.body)
    if too_deep:  # decoded values are not bound by the body parser's depth limit
        items.append(base_event("too-deep") | {"attributes": {"person": {"email": deep(300)}}})
    kinesis = FakeKinesis()

    # when the Map worker exports them
    result = export_items(items, RecordPlan(example_config), KinesisWriter(kinesis, "s"), Deadline.after(30))

    # then every item is exported or reported, and everything on the stream is standard JSON
    assert result["exported"] + result["filtered"] + len(result["rejected"]) == len(items)
    assert result["exported"] == len(kinesis.stream)
    for _, data in kinesis.stream:
        strict_json(data)
    assert all(rejected["code"] in CODES and rejected["reason"] for rejected in result["rejected"])
