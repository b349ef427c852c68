"""Contract v2 (with profileState) and its config: v1 stays exactly as it was."""

from __future__ import annotations

import json

import pytest

from kinesis_export.events import V1, V2, InvalidInput, parse_event
from kinesis_export.records import Record, RecordPlan
from tests.support import EXAMPLE_CONFIG, body, config_problems, profile_event

ATTRIBUTE_ONLY = {
    "eventId": "e-1",
    "identityMap": {"ECID": [{"id": "1", "primary": True}]},
    "attributes": {"person": {"email": "a@example.com"}},
    "timestamp": "2020-05-25T21:24:39.125+02:00",
}


def example(**changes: object) -> dict[str, object]:
    return {**json.loads(EXAMPLE_CONFIG.read_text()), **changes}


def test_v2_takes_an_event_without_segment_membership_and_with_a_timestamp():
    event = V2.parse_event(json.dumps(ATTRIBUTE_ONLY))

    assert event["timestamp"] == "2020-05-25T21:24:39.125+02:00"
    assert "segmentMembership" not in event


def test_v1_still_requires_segment_membership_in_its_own_words():
    with pytest.raises(InvalidInput) as raised:
        parse_event(json.dumps({"eventId": "e-1"}))

    assert raised.value.reason == "identityMap: required; segmentMembership: required"


def test_v1_ignores_a_timestamp_of_any_shape_as_before(example_config):
    # A producer that sends a field named timestamp today, of whatever shape, is exported as before.
    event = profile_event("1", timestamp=1590441879)

    built = RecordPlan(example_config).build(V1.parse_event(body(event)))

    assert isinstance(built, Record)


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2020-05-25", "timestamp: must be an RFC 3339 date-time with an offset, such as 2020-05-25T21:24:39Z"),
        (1590441879, "timestamp: Input should be a valid string"),
    ],
)
def test_v2_refuses_a_timestamp_that_is_no_rfc3339_time_naming_the_field_only(timestamp, reason):
    with pytest.raises(InvalidInput) as raised:
        V2.parse_event(json.dumps({**ATTRIBUTE_ONLY, "timestamp": timestamp}))

    assert raised.value.reason == reason


def test_v2_still_requires_an_identity():
    with pytest.raises(InvalidInput) as raised:
        V2.parse_event(json.dumps({**ATTRIBUTE_ONLY, "identityMap": {}}))

    assert raised.value.reason == "identityMap must hold at least one identity"


def test_profile_state_takes_a_ttl_in_days():
    assert config_problems(example(profileState={})) == []
    assert config_problems(example(profileState={"ttlDays": 0})) == [
        "profileState.ttlDays: Input should be greater than or equal to 1"
    ]


def test_profile_state_is_refused_with_event_id_partition_keys():
    assert config_problems(example(profileState={}, partitionKey="eventId")) == [
        "partitionKey: must be primaryIdentity with profileState (a profile's records must reach one shard)"
    ]
