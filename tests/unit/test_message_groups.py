"""What the local tools give a message as its MessageGroupId for a FIFO ingest queue: its profile."""

from __future__ import annotations

import hashlib
import json

from kinesis_export.config import parse_config
from kinesis_export_cli.local import message_group_id, profile_plan
from tests.support import EXAMPLE_CONFIG, body, profile_event


def _plan(**changes):
    return profile_plan(parse_config(json.loads(EXAMPLE_CONFIG.read_text()) | changes))


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_message_is_in_the_group_of_its_profile_hashed_from_the_partition_key():
    plan = _plan()
    first, later = profile_event("14575006536349286404619648085736425115"), profile_event("1457", event_id="e-2")
    later["identityMap"]["ECID"][0]["id"] = "14575006536349286404619648085736425115"

    assert message_group_id(body(first), plan) == sha256("14575006536349286404619648085736425115")
    assert message_group_id(body(later), plan) == message_group_id(body(first), plan)


def test_an_identity_exported_raw_never_shows_in_the_group():
    # given a destination exporting the Email namespace without a transform: the raw address is the partition key
    event = profile_event("unused")
    event["identityMap"] = {"Email": [{"id": "jane.doe@example.com", "primary": True}]}

    group = message_group_id(body(event), _plan(identities=[{"namespace": "Email"}]))

    assert group == sha256("jane.doe@example.com")
    assert "example.com" not in group


def test_a_hashed_namespace_gives_its_hash_never_the_raw_value():
    # given an event whose only exported identity is an e-mail address, hashed by the config
    event = profile_event("unused")
    event["identityMap"] = {"Email": [{"id": "Jane.Doe@example.com", "primary": True}]}

    group = message_group_id(body(event), _plan())

    assert group == sha256(hashlib.sha256(b"jane.doe@example.com").hexdigest())
    assert "example.com" not in group


def test_the_group_is_the_profile_whatever_the_partition_key():
    event = profile_event("profile-7", event_id="e-7")

    assert message_group_id(body(event), _plan(partitionKey="eventId")) == sha256("profile-7")


def test_an_array_takes_its_first_events_profile():
    array = "[" + ",".join([body(profile_event("a", event_id="1")), body(profile_event("b", event_id="2"))]) + "]"

    assert message_group_id(array, _plan()) == sha256("a")


def test_a_message_that_makes_no_record_is_a_group_of_its_own():
    broken = '{"eventId": '

    group = message_group_id(broken, _plan())

    assert group == sha256(broken)
    assert group != message_group_id('{"eventId": "other"', _plan())


def test_any_key_gives_a_group_id_sqs_takes():
    for key in ("1" * 256, "profile with spaces", "ü"):
        group = message_group_id(body(profile_event(key)), _plan())
        assert len(group) == 64 and all(33 <= ord(char) <= 126 for char in group)
