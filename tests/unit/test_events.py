import json

import pytest

from kinesis_export.events import InvalidInput, is_array, parse_array, parse_element, parse_event
from tests.support import HIGH_PROPENSITY, body, profile_event


def reject_reason(raw: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        parse_event(raw)
    return raised.value


def element_reject(element) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        parse_element(element)
    return raised.value


def envelope(event):
    return {"version": "0", "detail-type": "Segment Qualification", "source": "x", "detail": event}


def test_bare_event_is_parsed():
    event = parse_event(body(profile_event("1", event_id="evt-1")))

    assert event["eventId"] == "evt-1"
    assert event["identityMap"]["ECID"][0]["primary"] is True


def test_eventbridge_envelope_is_unwrapped():
    assert parse_event(json.dumps(envelope(profile_event("1"))))["eventId"] == "e-1"


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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[{}]", True),
        (' \n\t[{"eventId": "e"}]', True),
        (b"\r\n[]", True),
        ("[", True),
        ('{"eventId": "e", "attributes": [1]}', False),
        (b'{"a": []}', False),
        ("", False),
        ("   ", False),
        ("\u00a0[]", False),
        ('"[not an array]"', False),
    ],
)
def test_a_body_holding_an_array_is_told_by_its_first_character_after_json_whitespace(raw, expected):
    assert is_array(raw) is expected


def test_array_elements_are_parsed_one_by_one_in_order_bare_or_in_an_envelope():
    # given an array of a bare event, an enveloped one and another bare one
    raw = json.dumps(
        [profile_event("1", event_id="a"), envelope(profile_event("2", event_id="b")), profile_event("3", event_id="c")]
    )

    # when its elements are parsed
    events = [parse_element(element) for element in parse_array(raw)]

    # then each is an event of its own, in the array's order
    assert [event["eventId"] for event in events] == ["a", "b", "c"]
    assert events[1]["identityMap"]["ECID"][0]["id"] == "2"


def test_an_array_holding_valid_and_invalid_elements_rejects_only_the_invalid_ones():
    bad = profile_event("2", event_id="bad")
    bad["segmentMembership"]["ups"][HIGH_PROPENSITY]["status"] = "qualified"
    elements = parse_array(json.dumps([profile_event("1"), bad, profile_event("3")]))

    assert parse_element(elements[0])["eventId"] == "e-1"
    assert element_reject(elements[1]).reason == (
        "segmentMembership.ups.<segment>.status: Input should be 'realized', 'existing' or 'exited'"
    )
    assert parse_element(elements[2])["identityMap"]["ECID"][0]["id"] == "3"


def test_an_empty_array_is_rejected_as_a_whole_with_nothing_to_export():
    with pytest.raises(InvalidInput) as raised:
        parse_array(" [ ] ")

    assert (raised.value.code, raised.value.reason) == ("INVALID_EVENT", "body is an empty array: nothing to export")


def test_an_array_that_is_not_json_is_rejected_as_a_whole():
    with pytest.raises(InvalidInput) as raised:
        parse_array('[{"eventId": "e"},')

    assert raised.value.code == "INVALID_JSON"
    assert raised.value.reason.startswith("body is not JSON: EOF while parsing")


@pytest.mark.parametrize("element", [42, "an event", None, True, 1.5])
def test_an_element_that_is_not_an_object_is_invalid(element):
    error = element_reject(element)

    assert error.code == "INVALID_EVENT"
    assert error.reason == "must be a JSON object (an event, or an EventBridge envelope)"


def test_an_element_that_is_itself_an_array_is_invalid_arrays_do_not_nest():
    error = element_reject([profile_event("1")])

    assert (error.code, error.reason) == ("INVALID_EVENT", "must be an event, not an array: arrays do not nest")


def test_an_enveloped_element_names_its_problems_under_detail():
    event = profile_event("1")
    del event["eventId"]

    error = element_reject(envelope(event))

    assert error.reason == "detail.eventId: required"


def test_an_element_with_a_detail_type_but_no_detail_is_read_as_a_bare_event():
    assert parse_element(profile_event("1", **{"detail-type": "x"}))["eventId"] == "e-1"


def test_an_element_without_identity_is_invalid_as_a_whole_body_would_be():
    error = element_reject(profile_event("1", identityMap={"ECID": []}))

    assert error.reason == "identityMap must hold at least one identity"


def test_every_contract_violation_is_named_with_its_path():
    event = profile_event("1")
    del event["eventId"]
    event["segmentMembership"]["ups"][HIGH_PROPENSITY] = {"status": "qualified", "lastQualificationTime": "yesterday"}

    error = reject_reason(body(event))

    assert error.code == "INVALID_EVENT"
    assert "eventId: required" in error.reason
    assert "segmentMembership.ups.<segment>.status: Input should be 'realized', 'existing' or 'exited'" in error.reason
    assert "segmentMembership.ups.<segment>.lastQualificationTime: must be an RFC 3339" in error.reason


def test_identity_map_without_identity_is_invalid():
    error = reject_reason(body(profile_event("1", identityMap={"ECID": []})))

    assert "identityMap must hold at least one identity" in error.reason


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            profile_event("1", identityMap={"jane.doe@example.com": "not a list"}),
            "identityMap.<namespace>: Input should be a valid array",
        ),
        (
            profile_event("1", identityMap={"ECID": [{"id": "1"}], "jane.doe@example.com": [{"id": 7}]}),
            "identityMap.<namespace>.0.id: Input should be a valid string",
        ),
        (
            # a namespace that is also one of the contract's field names is still the input's key
            profile_event("1", identityMap={"status": [{"primary": "maybe"}]}),
            "identityMap.<namespace>.0.id: required; identityMap.<namespace>.0.primary: "
            "Input should be a valid boolean, unable to interpret input",
        ),
        (
            profile_event("1", segmentMembership={"ups": {"jane.doe@example.com": {"status": "realized"}}}),
            "segmentMembership.ups.<segment>.lastQualificationTime: required",
        ),
        (
            envelope(profile_event("1", segmentMembership={"ups": {"jane.doe@example.com": []}})),
            "detail.segmentMembership.ups.<segment>: Input should be an object",
        ),
    ],
)
def test_locations_name_the_field_never_a_key_taken_from_the_input(event, expected):
    # given an event whose invalid part sits under a key of the producer's (a namespace, a segment id)
    # when it is parsed, as a body and as an array's element
    as_body = reject_reason(body(event))
    as_element = element_reject(event)

    # then the location names what the key is, never its text
    assert as_body.reason == as_element.reason == expected
    assert "jane" not in as_body.reason


def test_reject_reason_never_echoes_personal_values():
    event = profile_event("1", identityMap={"Email": [{"id": 12345678, "primary": "jane@example.com"}]})

    error = reject_reason(body(event))

    assert "12345678" not in error.reason and "jane@example.com" not in error.reason
