"""Invalid input, however malformed, is rejected with a reason: it never raises anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinesis_export.deadline import Deadline
from kinesis_export.events import InvalidInput, parse_element, parse_event
from kinesis_export.pipeline import export_batch, prepare_messages
from kinesis_export.records import Record, RecordPlan, Skip
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis
from tests.support import HIGH_PROPENSITY, body, profile_event

MALFORMED = [
    "",
    " ",
    "null",
    "42",
    '"a string"',
    "[]",
    "[{}]",
    "{}",
    "{",
    '{"eventId": }',
    "\x00\x01\x02",
    "\ud800",
    "{" * 5000 + "}" * 5000,
    '{"eventId": 1, "identityMap": {}, "segmentMembership": {}}',
    '{"eventId": "e", "identityMap": {"ECID": "not a list"}, "segmentMembership": {"ups": {}}}',
    '{"eventId": "e", "identityMap": {"ECID": [{"id": ""}]}, "segmentMembership": {"ups": {}}}',
    '{"eventId": "e", "identityMap": {"ECID": [{"id": "1"}]}, "segmentMembership": {"ups": []}}',
    '{"eventId": "e", "identityMap": {"ECID": [{"id": "1"}]}, "segmentMembership": {"ups": {"s": null}}}',
    '{"detail-type": "Segment Qualification", "detail": "not an event"}',
    '{"detail-type": "Segment Qualification", "detail": {"eventId": "e"}}',
    json.dumps(profile_event("1", attributes=[1, 2])),
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_bodies_are_rejected_with_a_reason(raw):
    with pytest.raises(InvalidInput) as raised:
        parse_event(raw)

    assert raised.value.code in ("INVALID_JSON", "INVALID_EVENT") and raised.value.reason


def test_malformed_bodies_never_block_the_valid_ones_in_their_batch(example_config):
    messages = [(f"bad-{n}", raw) for n, raw in enumerate(MALFORMED)]
    messages += [(f"good-{n}", body(profile_event(f"p{n}"))) for n in range(5)]
    kinesis = FakeKinesis()

    report = export_batch(messages, RecordPlan(example_config), KinesisWriter(kinesis, "s"), None, Deadline.after(5))

    assert report.exported == 5 and len(kinesis.stream) == 5
    assert set(report.failed_message_ids) == {f"bad-{n}" for n in range(len(MALFORMED))}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_is_parsed_or_rejected(raw):
    try:
        event = parse_event(raw)
    except InvalidInput as error:
        assert error.code in ("INVALID_JSON", "INVALID_EVENT")
    else:
        assert event["eventId"] and any(event["identityMap"].values())


@settings(max_examples=300, deadline=None)
@given(
    event_id=json_values,
    identity_map=json_values | st.dictionaries(st.sampled_from(["ECID", "email", "Email"]), json_values, max_size=3),
    ups=json_values | st.dictionaries(st.sampled_from([HIGH_PROPENSITY, "other"]), json_values, max_size=2),
    attributes=json_values,
)
def test_any_event_shaped_json_is_exported_skipped_or_rejected(example_config, event_id, identity_map, ups, attributes):
    raw = json.dumps(
        {"eventId": event_id, "identityMap": identity_map, "segmentMembership": {"ups": ups}, "attributes": attributes}
    )
    try:
        built = RecordPlan(example_config).build(parse_event(raw))
    except InvalidInput as error:
        assert error.code in ("INVALID_EVENT", "RECORD_TOO_LARGE")
    else:
        assert isinstance(built, Record | Skip)


event_shaped = st.builds(
    lambda event_id, identity_map, ups, attributes: {
        "eventId": event_id,
        "identityMap": identity_map,
        "segmentMembership": {"ups": ups},
        "attributes": attributes,
    },
    json_values,
    json_values | st.dictionaries(st.sampled_from(["ECID", "email"]), json_values, max_size=2),
    json_values | st.dictionaries(st.sampled_from([HIGH_PROPENSITY, "other"]), json_values, max_size=2),
    json_values,
)
elements = json_values | event_shaped | event_shaped.map(lambda event: {"detail-type": "Segment", "detail": event})


@settings(max_examples=300, deadline=None)
@given(elements)
def test_an_array_element_is_judged_as_its_own_text_would_be(element):
    def judged(parse, given):
        """The event, or the reject's code and reason."""
        try:
            return parse(given)
        except InvalidInput as error:
            return error.code, error.reason

    # given an element: when it is judged decoded, as in an array, and as a whole body's text
    as_element = judged(parse_element, element)
    as_body = judged(parse_event, json.dumps(element))

    # then both give the same event, or the same reject (one that is no object is worded for where it was)
    if isinstance(element, dict):
        assert as_element == as_body
    else:
        assert as_element[0] == as_body[0] == "INVALID_EVENT"


@settings(max_examples=300, deadline=None)
@given(st.lists(elements, max_size=5).map(json.dumps) | st.text(max_size=100).map(lambda text: "[" + text))
def test_any_array_body_is_taken_element_by_element_or_rejected_whole(example_config, raw):
    # given any body that starts as an array; when it is prepared as an SQS message body
    prepared = prepare_messages([("m", raw)], RecordPlan(example_config))

    try:
        count = len(json.loads(raw))
    except ValueError:
        count = 0
    if count:
        # then every element is accounted for once, by its index, and each reject names its index
        indexes = [index for _, index in prepared.sources] + [index for (_, index), _ in prepared.rejected]
        assert len(indexes) == len(set(indexes)) and len(indexes) + prepared.filtered == count == prepared.received
        assert all(error.reason.startswith(f"[{index}] ") for (_, index), error in prepared.rejected)
    else:
        # or, not JSON or an empty array, the body is one reject
        assert [(source, error.code) for source, error in prepared.rejected] in (
            [("m", "INVALID_JSON")],
            [("m", "INVALID_EVENT")],
        )
