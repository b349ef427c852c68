"""What the local tools give a message as its MessageGroupId for a FIFO ingest queue: its profile."""

from __future__ import annotations

import hashlib
import json

from kinesis_export.config import parse_config
from kinesis_export_cli.local import message_group_id, profile_plan
from tests.support import EXAMPLE_CONFIG, body, profile_event


def _plan(**changes):
    return profile_plan(parse_config(json.loads(EXAMPLE_CONFIG.read_text()) | changes))


def test_a_message_is_in_the_group_of_its_profile_as_the_partition_key_names_it():
    plan = _plan()
    first, later = profile_event("14575006536349286404619648085736425115"), profile_event("1457", event_id="e-2")
    later["identityMap"]["ECID"][0]["id"] = "14575006536349286404619648085736425115"

    assert message_group_id(body(first), plan) == "14575006536349286404619648085736425115"
    assert message_group_id(body(later), plan) == message_group_id(body(first), plan)


def test_a_hashed_namespace_gives_its_hash_never_the_raw_value():
    # given an event whose only exported identity is an e-mail address, hashed by the config
    event = profile_event("unused")
    event["identityMap"] = {"Email": [{"id": "Jane.Doe@example.com", "primary": True}]}

    group = message_group_id(body(event), _plan())

    assert group == hashlib.sha256(b"jane.doe@example.com").hexdigest()
    assert "example.com" not in group


def test_the_group_is_the_profile_whatever_the_partition_key():
    event = profile_event("profile-7", event_id="e-7")

    assert message_group_id(body(event), _plan(partitionKey="eventId")) == "profile-7"


def test_an_array_takes_its_first_events_profile():
    array = "[" + ",".join([body(profile_event("a", event_id="1")), body(profile_event("b", event_id="2"))]) + "]"

    assert message_group_id(array, _plan()) == "a"


def test_a_message_that_makes_no_record_is_a_group_of_its_own():
    broken = '{"eventId": '

    group = message_group_id(broken, _plan())

    assert group == hashlib.sha256(broken.encode()).hexdigest()
    assert group != message_group_id('{"eventId": "other"', _plan())


def test_a_key_sqs_would_not_take_as_a_group_id_is_hashed():
    long_key, spaced = "1" * 129, "profile with spaces"

    assert message_group_id(body(profile_event(long_key)), _plan()) == hashlib.sha256(long_key.encode()).hexdigest()
    assert message_group_id(body(profile_event(spaced)), _plan()) == hashlib.sha256(spaced.encode()).hexdigest()
    assert message_group_id(body(profile_event("1" * 128)), _plan()) == "1" * 128
