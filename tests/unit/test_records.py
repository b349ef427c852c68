import functools
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinesis_export.config import DestinationConfig, parse_config
from kinesis_export.events import InvalidInput, parse_event
from kinesis_export.records import Record, RecordPlan, Skip, utc_timestamp
from tests.support import HIGH_PROPENSITY, ROOT, WHITE_PAPER, body, profile_event, strict_json


def build(config: DestinationConfig, event: dict[str, Any]) -> Record | Skip:
    return RecordPlan(config).build(parse_event(body(event)))


def record_json(config: DestinationConfig, event: dict[str, Any]) -> Any:
    record = build(config, event)
    assert isinstance(record, Record), record
    return json.loads(record.data)


def config_with(example_config: DestinationConfig, **changes: Any) -> DestinationConfig:
    data = example_config.model_dump(by_alias=True, exclude_unset=True)
    data.update(changes)
    return parse_config(data)


def test_seeds_example_profile_becomes_exactly_the_seeds_exported_record(example_config, seeds_profile):
    expected = json.loads((ROOT / "tests" / "golden" / "seeds-exported-data.json").read_text())

    assert record_json(example_config, seeds_profile) == expected


def test_record_keys_come_in_order_attributes_segments_identities(example_config, seeds_profile):
    seeds_profile["attributes"]["mobilePhone"] = {"number": "+15555550100"}

    assert list(record_json(example_config, seeds_profile)) == [
        "person",
        "mobilePhone",
        "segmentMembership",
        "identityMap",
    ]


def test_record_is_compact_utf8_json(example_config, seeds_profile):
    seeds_profile["attributes"] = {"person": {"name": {"lastName": "Müller"}}}

    record = build(example_config, seeds_profile)

    assert isinstance(record, Record)
    assert "Müller".encode() in record.data
    assert b": " not in record.data and b", " not in record.data


def test_only_mapped_segments_are_exported(example_config, seeds_profile):
    seeds_profile["segmentMembership"]["ups"]["not-mapped"] = {
        "status": "realized",
        "lastQualificationTime": "2020-05-25T21:24:39Z",
    }

    assert set(record_json(example_config, seeds_profile)["segmentMembership"]["ups"]) == {HIGH_PROPENSITY, WHITE_PAPER}


def test_a_record_knows_the_latest_qualification_time_of_its_mapped_segments_in_utc(example_config, seeds_profile):
    # given an event whose latest time is an unmapped segment's, and whose latest mapped one has an offset
    ups = seeds_profile["segmentMembership"]["ups"]
    ups[HIGH_PROPENSITY]["lastQualificationTime"] = "2020-05-26T01:40:00+02:00"  # 23:40 UTC: the latest mapped
    ups[WHITE_PAPER]["lastQualificationTime"] = "2020-05-25T23:37:33Z"
    ups["not-mapped"] = {"status": "realized", "lastQualificationTime": "2021-01-01T00:00:00Z"}

    # when its record is built
    record = build(example_config, seeds_profile)

    # then the record's qualification time is the latest of its own segments', as the record writes it
    assert isinstance(record, Record)
    assert record.qualified == "2020-05-25T23:40:00Z"


def test_exited_segment_is_exported_with_utc_time(example_config):
    event = profile_event("1", status="exited")
    event["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = "2020-05-26T01:24:39.750+04:00"

    ups = record_json(example_config, event)["segmentMembership"]["ups"]

    assert ups == {HIGH_PROPENSITY: {"lastQualificationTime": "2020-05-25T21:24:39Z", "status": "exited"}}


def test_event_without_mapped_segment_is_skipped(example_config):
    event = profile_event("1")
    event["segmentMembership"]["ups"] = {
        "other": {"status": "realized", "lastQualificationTime": "2020-05-25T21:24:39Z"}
    }

    assert build(example_config, event) == Skip("no mapped segment")


def test_event_without_mapped_identity_is_skipped(example_config):
    event = profile_event("1", identityMap={"Phone": [{"id": "+15555550100", "primary": True}]})

    assert build(example_config, event) == Skip("no mapped identity")


def test_identities_are_matched_case_insensitively_and_hashed_under_export_key(example_config):
    event = profile_event("1", identityMap={"ecid": [{"id": "1"}], "EMAIL": [{"id": " Jane.Doe@Example.com "}]})

    identity_map = record_json(example_config, event)["identityMap"]

    expected_hash = hashlib.sha256(b"jane.doe@example.com").hexdigest()
    assert identity_map == {"ecid": [{"id": "1"}], "email_lc_sha256": [{"id": expected_hash}]}


def test_namespaces_sharing_an_export_key_are_merged_in_config_order(example_config):
    already_hashed = "a" * 64
    event = profile_event(
        "1", identityMap={"email_lc_sha256": [{"id": already_hashed}], "Email": [{"id": "jane@example.com"}]}
    )

    ids = [entry["id"] for entry in record_json(example_config, event)["identityMap"]["email_lc_sha256"]]

    assert ids == [hashlib.sha256(b"jane@example.com").hexdigest(), already_hashed]


def test_configured_attributes_keep_their_paths_and_absent_ones_are_left_out(example_config):
    attributes = {
        "person": {"email": "a@b.c", "name": {"firstName": "Jane", "lastName": "Doe"}, "birthDate": "1990-01-01"},
        "mobilePhone": "not an object",
        "loyalty": {"tier": "gold"},
    }
    event = profile_event("1", attributes=attributes)

    record = record_json(example_config, event)

    assert record["person"] == {"email": "a@b.c", "name": {"lastName": "Doe"}}
    assert "mobilePhone" not in record and "loyalty" not in record


def test_partition_key_is_the_primary_identity_exported_value(example_config):
    event = profile_event(
        "1", identityMap={"ECID": [{"id": "1"}], "Email": [{"id": "jane@example.com", "primary": True}]}
    )

    record = build(example_config, event)

    assert isinstance(record, Record)
    assert record.partition_key == hashlib.sha256(b"jane@example.com").hexdigest()


def test_partition_key_without_primary_is_first_identity_of_first_configured_namespace(example_config):
    event = profile_event(
        "1",
        identityMap={
            "Email": [{"id": "jane@example.com"}],
            "ECID": [{"id": "42"}, {"id": "43"}],
            "CRM": [{"id": "x", "primary": True}],
        },
    )

    record = build(example_config, event)

    assert isinstance(record, Record)
    assert record.partition_key == "42"


def test_partition_key_over_256_characters_is_its_sha256(example_config):
    long_id = "7" * 300

    record = build(example_config, profile_event(long_id))

    assert isinstance(record, Record)
    assert record.partition_key == hashlib.sha256(long_id.encode()).hexdigest()


def test_partition_key_over_256_bytes_in_utf_8_is_its_sha256_even_within_256_characters(example_config):
    # given ids of 256 characters or fewer: ASCII (256 bytes), and non-ASCII over 256 bytes
    ascii_id, wide_id, widest_id = "7" * 256, "ü" * 129, "\U0001f600" * 65

    keys = [build(example_config, profile_event(id_)).partition_key for id_ in (ascii_id, wide_id, widest_id)]

    # then only the ASCII one is kept as it is: the others would be over 256 however Kinesis counts
    assert keys == [
        ascii_id,
        hashlib.sha256(wide_id.encode()).hexdigest(),
        hashlib.sha256(widest_id.encode()).hexdigest(),
    ]


def test_partition_key_can_be_the_event_id(example_config):
    config = config_with(example_config, partitionKey="eventId")

    record = build(config, profile_event("1", event_id="evt-9"))

    assert isinstance(record, Record)
    assert record.partition_key == "evt-9"


def test_record_over_one_mebibyte_is_rejected_naming_the_limit_in_force(example_config):
    event = profile_event("1", attributes={"person": {"email": "x" * (1024 * 1024)}})

    with pytest.raises(InvalidInput) as raised:
        build(example_config, event)

    assert raised.value.code == "RECORD_TOO_LARGE"
    # the size and the limit, never a value of the record
    size = int(raised.value.reason.split()[2])
    assert size > 1024 * 1024
    assert raised.value.reason == (
        f"record is {size} bytes; stream segment-exports takes at most 1048576 (stream.maxRecordSizeKiB: 1024)"
    )


def test_a_stream_configured_for_larger_records_takes_them_up_to_its_limit(example_config):
    # given a stream that takes 2 MiB records, as stream.maxRecordSizeKiB says
    config = config_with(example_config, stream={"name": "large", "create": True, "maxRecordSizeKiB": 2048})
    plan = RecordPlan(config)
    overhead = len(plan.build(parse_event(body(profile_event("1", attributes={"person": {"email": ""}})))).data) + 1

    # when records of 1.5 MiB, exactly 2 MiB and one byte more are built
    def sized(total: int) -> Record | Skip:
        email = "x" * (total - overhead)
        return plan.build(parse_event(body(profile_event("1", attributes={"person": {"email": email}}))))

    # then the first two are records, and the third is rejected with the stream's own limit
    assert isinstance(one_and_a_half := sized(3 * 512 * 1024), Record) and one_and_a_half.size == 3 * 512 * 1024
    assert isinstance(largest := sized(2 * 1024 * 1024), Record) and largest.size == 2 * 1024 * 1024
    with pytest.raises(InvalidInput) as raised:
        sized(2 * 1024 * 1024 + 1)
    assert raised.value.reason == (
        "record is 2097153 bytes; stream large takes at most 2097152 (stream.maxRecordSizeKiB: 2048)"
    )


def test_qualification_time_that_is_no_real_time_is_rejected(example_config):
    event = profile_event("1")
    event["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = "2020-13-45T21:24:39Z"

    with pytest.raises(InvalidInput) as raised:
        build(example_config, event)

    assert raised.value.reason == "segmentMembership.ups.<segment>.lastQualificationTime: not a valid date-time"


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01"])
def test_qualification_time_out_of_range_once_in_utc_is_rejected_naming_its_field(example_config, time):
    # given a time the contract's pattern takes, whose UTC falls outside the calendar datetime holds
    event = profile_event("1")
    event["segmentMembership"]["ups"][HIGH_PROPENSITY]["lastQualificationTime"] = time

    # when its record is built
    with pytest.raises(InvalidInput) as raised:
        build(example_config, event)

    # then it is an invalid event, with its field named (the segment id is the input's: masked)
    assert (raised.value.code, raised.value.reason) == (
        "INVALID_EVENT",
        "segmentMembership.ups.<segment>.lastQualificationTime: out of range once converted to UTC",
    )


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ('{"person": {"email": NaN}}', "attributes.person.email"),
        ('{"person": {"email": "a", "name": {"lastName": Infinity}}}', "attributes.person.name.lastName"),
        ('{"mobilePhone": {"number": -Infinity}}', "attributes.mobilePhone.number"),
        ('{"mobilePhone": {"number": 1e400}}', "attributes.mobilePhone.number"),
        ('{"mobilePhone": {"number": -1e400}}', "attributes.mobilePhone.number"),
        # below a configured path, the keys are the input's own: masked; a list's positions are kept
        ('{"person": {"email": {"jane.doe@example.com": [1, {"x": NaN}]}}}', "attributes.person.email.<key>.1.<key>"),
    ],
)
def test_a_record_that_would_hold_a_non_finite_number_is_rejected_naming_its_field(example_config, attributes, field):
    # given an event whose exported attributes hold a number that standard JSON cannot (the input's
    # parser takes NaN, Infinity and overflowing numbers)
    raw = body(profile_event("1"))[:-1] + f', "attributes": {attributes}}}'

    # when its record is built
    with pytest.raises(InvalidInput) as raised:
        RecordPlan(example_config).build(parse_event(raw))

    # then it is rejected, naming the field and not the value
    assert (raised.value.code, raised.value.reason) == (
        "INVALID_EVENT",
        f"{field}: a number JSON cannot hold (NaN or infinite)",
    )


def test_a_non_finite_number_outside_the_configured_attributes_is_left_out_and_the_record_exported(example_config):
    raw = body(profile_event("1"))[:-1] + ', "attributes": {"person": {"age": NaN}, "score": Infinity}}'

    record = RecordPlan(example_config).build(parse_event(raw))

    assert isinstance(record, Record) and "person" not in strict_json(record.data)


def test_strings_naming_nan_or_infinity_are_exported_as_strings(example_config):
    event = profile_event("1", attributes={"person": {"email": "NaN", "name": {"lastName": "Infinity -Infinity"}}})

    assert record_json(example_config, event)["person"] == {
        "email": "NaN",
        "name": {"lastName": "Infinity -Infinity"},
    }


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.floats() | st.integers() | st.text(alphabet="NaInfty-1e", max_size=12),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
        max_leaves=10,
    )
)
def test_every_record_built_is_standard_json(example_config, value):
    # given any value, finite or not, at a configured attribute path
    event = profile_event("1", attributes={"person": {"email": value}})

    # when its record is built from the event as a decoded value
    try:
        record = RecordPlan(example_config).build(parse_event(event))
    except InvalidInput as error:
        # then it is rejected for its non-finite number, or its data parses with a strict parser
        assert error.reason.startswith("attributes.person.email") and "NaN or infinite" in error.reason
    else:
        assert isinstance(record, Record)
        strict_json(record.data)


@pytest.mark.parametrize(
    "value",
    [functools.reduce(lambda inner, _: [inner], range(300), "x"), "\ud800", {"\udfff": 1}],
    ids=["nested 300 deep", "lone surrogate", "lone surrogate key"],
)
def test_a_decoded_event_the_encoder_cannot_write_is_rejected_with_a_reason(example_config, value):
    # given a decoded event (a Map item, decoded by Python's json) whose exported attribute the encoder cannot write
    event = profile_event("1", attributes={"person": {"email": value}})

    # when its record is built
    with pytest.raises(InvalidInput) as raised:
        RecordPlan(example_config).build(parse_event(event))

    # then it is rejected with a reason, not an encoder's exception
    assert (raised.value.code, raised.value.reason) == (
        "INVALID_EVENT",
        "cannot be encoded as JSON: nested too deeply, or text with a lone surrogate",
    )


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


@pytest.mark.parametrize(
    "given", ["0001-01-01T00:00:00+01:00", "0001-01-01t00:59:59.999+01:00", "9999-12-31T23:30:00-01:00"]
)
def test_qualification_time_out_of_range_once_in_utc_is_refused_with_a_reason(given):
    with pytest.raises(InvalidInput) as raised:
        utc_timestamp(given)

    assert (raised.value.code, raised.value.reason) == ("INVALID_EVENT", "out of range once converted to UTC")


@pytest.mark.parametrize("given", ["2020-12-31T23:59:60Z", "2020-05-25T21:24:39+24:00", "0000-01-01T00:00:00Z"])
def test_qualification_time_that_is_no_real_time_is_refused_without_quoting_it(given):
    # datetime's own message would quote the value ("Invalid isoformat string: ...")
    with pytest.raises(InvalidInput) as raised:
        utc_timestamp(given)

    assert raised.value.reason == "not a valid date-time"


def test_qualification_time_at_the_edges_of_the_calendar_in_utc_is_kept():
    assert utc_timestamp("0001-01-01T00:00:00-01:00") == "0001-01-01T01:00:00Z"
    assert utc_timestamp("9999-12-31T23:59:59.999999999Z") == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize("given", ["2020-05-25T21:24:39", "2020-05-25", "20200525T212439Z", "1590441879", ""])
def test_qualification_time_without_offset_or_in_other_formats_is_refused(given):
    with pytest.raises(ValueError, match="RFC 3339"):
        utc_timestamp(given)
