"""Payload options, data governance and consent: what a destination config adds to the export."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kinesis_export.config import ConfigError, DestinationConfig, parse_config
from kinesis_export.events import parse_event
from kinesis_export.records import Record, RecordPlan, Skip
from tests.support import EXAMPLE_CONFIG, HIGH_PROPENSITY, WHITE_PAPER, body

ALL_ACTIONS = [
    "analytics",
    "combineWithPII",
    "crossSiteTargeting",
    "dataScience",
    "emailTargeting",
    "exportToThirdParty",
    "onsiteAdvertising",
    "onsitePersonalization",
    "segmentMatch",
]
# The shipped catalogue, written out by hand: which marketing actions each label forbids.
FORBIDDEN = {
    "C1": set(ALL_ACTIONS),
    "C2": {"exportToThirdParty"},
    "C3": {"combineWithPII"},
    "C4": {"crossSiteTargeting", "emailTargeting", "onsiteAdvertising", "onsitePersonalization"},
    "C5": {"crossSiteTargeting"},
    "C6": {"onsiteAdvertising"},
    "C7": {"onsitePersonalization"},
    "C8": {"analytics"},
    "C9": {"dataScience"},
    "C10": set(),
    "C11": {"segmentMatch"},
    "C12": set(ALL_ACTIONS),
    "I1": set(),
    "I2": set(),
    "S1": set(),
    "S2": set(),
}


def example(**changes: Any) -> dict[str, Any]:
    data = json.loads(EXAMPLE_CONFIG.read_text())
    data.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return raised.value.problems


def exported(config: DestinationConfig, event: dict[str, Any]) -> Any:
    record = RecordPlan(config).build(parse_event(body(event)))
    assert isinstance(record, Record), record
    return json.loads(record.data)


def test_segment_names_are_exported_when_asked(seeds_profile):
    config = parse_config(example(includeSegmentNames=True))

    ups = exported(config, seeds_profile)["segmentMembership"]["ups"]

    assert ups == {
        HIGH_PROPENSITY: {
            "lastQualificationTime": "2020-05-25T21:24:39Z",
            "status": "exited",
            "name": "High propensity to convert",
        },
        WHITE_PAPER: {
            "lastQualificationTime": "2020-05-25T23:37:33Z",
            "status": "existing",
            "name": "Downloaded the white paper",
        },
    }


def test_segment_and_mapping_timestamps_are_exported_when_asked(seeds_profile):
    segments = [
        {
            "id": HIGH_PROPENSITY,
            "name": "High propensity to convert",
            "createdAt": 1589932800000,
            "updatedAt": 1590019200000,
            "mappingCreatedAt": 1590105600000,
            "mappingUpdatedAt": 1590192000000,
        }
    ]
    config = parse_config(example(includeSegmentTimestamps=True, segments=segments))

    ups = exported(config, seeds_profile)["segmentMembership"]["ups"]

    assert ups == {
        HIGH_PROPENSITY: {
            "lastQualificationTime": "2020-05-25T21:24:39Z",
            "status": "exited",
            "createdAt": 1589932800000,
            "updatedAt": 1590019200000,
            "mappingCreatedAt": 1590105600000,
            "mappingUpdatedAt": 1590192000000,
        }
    }


def test_payload_options_are_off_by_default(example_config, seeds_profile):
    ups = exported(example_config, seeds_profile)["segmentMembership"]["ups"]

    assert all(set(entry) == {"lastQualificationTime", "status"} for entry in ups.values())


def test_timestamps_option_needs_every_timestamp():
    assert problems(example(includeSegmentTimestamps=True, segments=[{"id": "s1", "createdAt": 1}])) == [
        "segments[0]: includeSegmentTimestamps needs updatedAt, mappingCreatedAt, mappingUpdatedAt (UNIX milliseconds)"
    ]


@pytest.mark.parametrize("label", sorted(FORBIDDEN))
@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_labelled_attribute_is_refused_exactly_where_a_policy_forbids_it(label, action):
    data = example(marketingActions=[action], attributes=[{"path": "person.email", "labels": [label]}])

    if action in FORBIDDEN[label]:
        lines = problems(data)
        assert len(lines) == 1
        assert lines[0].startswith(
            f"attributes[0] (person.email): label {label} may not be used for marketing action {action} (policy '"
        )
    else:
        assert parse_config(data).attributes[0].labels == [label]


def test_violation_names_field_label_action_and_policy():
    data = example(
        marketingActions=["emailTargeting", "exportToThirdParty"],
        identities=[
            {"namespace": "Email", "exportAs": "email_lc_sha256", "transform": "sha256", "labels": ["C2", "C4"]}
        ],
    )

    assert problems(data) == [
        "identities[0] (Email): label C2 may not be used for marketing action exportToThirdParty "
        "(policy 'no-third-party-export': Restrict export to third parties)",
        "identities[0] (Email): label C4 may not be used for marketing action emailTargeting "
        "(policy 'no-targeting': Restrict on-site and cross-site targeting)",
    ]


def test_a_destination_adds_its_own_policies_labels_and_actions():
    policy = {
        "id": "no-pii-to-partners",
        "name": "No directly identifiable data to partners",
        "marketingActions": ["partnerSharing"],
        "deniedLabels": ["I1", "PARTNER"],
    }
    data = example(
        marketingActions=["partnerSharing"], policies=[policy], attributes=[{"path": "x.y", "labels": ["I1"]}]
    )

    assert problems(data) == [
        "attributes[0] (x.y): label I1 may not be used for marketing action partnerSharing "
        "(policy 'no-pii-to-partners': No directly identifiable data to partners)"
    ]


def test_unknown_actions_and_labels_are_refused():
    data = example(marketingActions=["emailTargetting"], attributes=[{"path": "person.email", "labels": ["C13"]}])

    lines = problems(data)

    assert lines[0].startswith("marketingActions[0]: unknown marketing action 'emailTargetting' (known: analytics,")
    assert lines[1] == "attributes[0] (person.email): unknown label 'C13'"


@pytest.mark.parametrize(("share", "is_exported"), [("n", False), ("y", True), ("p", True), (None, True)])
def test_profiles_that_refused_to_share_are_not_exported(example_config, seeds_profile, share, is_exported):
    if share is not None:
        seeds_profile["attributes"]["consents"] = {"share": {"val": share}}

    built = RecordPlan(example_config).build(parse_event(body(seeds_profile)))

    assert isinstance(built, Record) == is_exported
    if not is_exported:
        assert built == Skip("no consent to share")


def test_consent_path_is_configurable_and_can_be_switched_off(seeds_profile):
    seeds_profile["attributes"]["privacy"] = {"shareWithPartners": "n"}
    seeds_profile["attributes"]["consents"] = {"share": {"val": "n"}}

    moved = RecordPlan(parse_config(example(consentPath="privacy.shareWithPartners")))
    off = RecordPlan(parse_config(example(consentPath=None)))

    assert moved.build(parse_event(body(seeds_profile))) == Skip("no consent to share")
    assert isinstance(off.build(parse_event(body(seeds_profile))), Record)


def test_credentials_modes_are_validated():
    assume = {"mode": "assumeRole", "roleArn": "arn:aws:iam::111122223333:role/kinesis-writer"}
    keys = {"mode": "accessKey", "secretArn": "kinesis-keys"}

    assert problems(example(credentials=assume)) == ["credentials.assumeRole.externalId: required"]
    assert problems(example(credentials=keys)) == [
        "credentials.accessKey.secretArn: String should match pattern "
        "'^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9_/+=.@-]+$'"
    ]


def test_a_stream_cannot_be_created_in_another_account_s_role_reach():
    credentials = {
        "mode": "assumeRole",
        "roleArn": "arn:aws:iam::222233334444:role/writer",
        "externalId": "x-1",
        "exporterAccountId": "111122223333",
    }

    assert problems(example(credentials=credentials)) == [
        "stream.create: a pipeline that writes through a role in another account cannot create the stream there; "
        "create it in that account and set stream.create to false"
    ]
