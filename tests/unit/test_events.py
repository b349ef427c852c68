import json

import pytest

from kinesis_export.events import InvalidInput, parse_event, utc_timestamp
from tests.support import HIGH_PROPENSITY, body, profile_event


def reject_reason(raw: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        parse_event(raw)
    return raised.value


def test_bare_event_is_parsed():
    event = parse_event(body(profile_event("1", event_id="evt-1")))

    assert event["eventId"] == "evt-1"
    assert event["identityMap"]["ECID"][0]["primary"] is True


def test_eventbridge_envelope_is_unwrapped():
    envelope = {"version": "0", "detail-type": "Segment Qualification", "source": "x", "detail": profile_event("1")}

    assert parse_event(json.dumps(envelope))["eventId"] == "e-1"


def test_bare_event_holding_a_detail_type_key_is_not_taken_for_an_envelope():
    event = profile_event("1", attributes={"detail-type": "not an envelope"})

    assert parse_event(body(event))["attributes"] == {"detail-type": "not an envelope"}


def test_fields_outside_the_contract_are_dropped():
    event = profile_event("1", xdmVersion="1.0")
    event["identityMap"]["ECID"][0]["authenticatedState"] = "ambiguous"

    parsed = parse_event(body(event))

    assert "xdmVersion" not in parsed and parsed["identityMap"]["ECID"][0] == {"id": "1", "primary": True}


def test_body_that_is_not_json_is_invalid_json():
    assert reject_reason('{"eventId": ').code == "INVALID_JSON"


def test_body_that_is_not_an_object_is_invalid_event():
    assert reject_reason("[1, 2]").code == "INVALID_EVENT"


def test_every_contract_violation_is_named_with_its_path():
    event = profile_event("1")
    del event["eventId"]
    event["segmentMembership"]["ups"][HIGH_PROPENSITY] = {"status": "qualified", "lastQualificationTime": "yesterday"}

    error = reject_reason(body(event))

    assert error.code == "INVALID_EVENT"
    assert "eventId: required" in error.reason
    assert f"segmentMembership.ups.{HIGH_PROPENSITY}.status: Input should be 'realized', 'existing' or 'exited'" in (
        error.reason
    )
    assert f"segmentMembership.ups.{HIGH_PROPENSITY}.lastQualificationTime: must be an RFC 3339" in error.reason


def test_identity_map_without_identity_is_invalid():
    error = reject_reason(body(profile_event("1", identityMap={"ECID": []})))

    assert "identityMap must hold at least one identity" in error.reason


def test_reject_reason_never_echoes_personal_values():
    event = profile_event("1", identityMap={"Email": [{"id": 12345678, "primary": "jane@example.com"}]})

    error = reject_reason(body(event))

    assert "12345678" not in error.reason and "jane@example.com" not in error.reason


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2020-05-25T21:24:39Z", "2020-05-25T21:24:39Z"),
        ("2020-05-25t21:24:39z", "2020-05-25T21:24:39Z"),
        ("2020-05-25T23:24:39.999+02:00", "2020-05-25T21:24:39Z"),
        ("2020-05-25T16:24:39-05:00", "2020-05-25T21:24:39Z"),
        ("2020-05-25 21:24:39.123456789Z", "2020-05-25T21:24:39Z"),
    ],
)
def test_qualification_time_is_normalised_to_utc_seconds(given, expected):
    assert utc_timestamp(given) == expected


@pytest.mark.parametrize("given", ["2020-05-25T21:24:39", "2020-05-25", "20200525T212439Z", "1590441879", ""])
def test_qualification_time_without_offset_or_in_other_formats_is_refused(given):
    with pytest.raises(ValueError, match="RFC 3339"):
        utc_timestamp(given)
