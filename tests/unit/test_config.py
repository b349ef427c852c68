import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinesis_export.config import ConfigError, Settings, load_config, parse_config
from tests.support import EXAMPLE_CONFIG, config_problems


def example() -> dict:
    return json.loads(EXAMPLE_CONFIG.read_text())


def test_example_config_is_valid_with_defaults(example_config):
    assert example_config.name == "crm-prospects"
    assert example_config.stream.region is None
    assert example_config.identities[0].exported_key == "ecid"
    assert example_config.ingest.max_receive_count == 5


def test_each_problem_is_one_line_naming_its_field():
    data = example()
    data["name"] = "CRM Prospects"
    data["stream"]["region"] = "Virginia"
    data["identities"][1]["transform"] = "md5"
    data["partitonKey"] = "eventId"
    del data["segments"]

    assert config_problems(data) == [
        "name: must be 1-40 lowercase letters, digits or hyphens",
        "stream.region: must be an AWS region code such as us-east-1",
        "segments: required",
        "identities[1].transform: Input should be 'sha256'",
        "partitonKey: unknown field",
    ]


def test_conflicting_entries_are_named_with_the_first_entry_they_repeat():
    data = example()
    data["segments"].append({"id": data["segments"][0]["id"]})
    data["attributes"] += ["person", "person.email", "mobilePhone.number.digits"]
    data["identities"].append({"namespace": "ecid"})

    assert config_problems(data) == [
        "segments[2].id: mapped twice, first in segments[0]",
        "attributes[3]: overlaps attributes[0] (one holds the other); keep only one of them",
        "attributes[4]: listed twice, first as attributes[0]",
        "attributes[5]: overlaps attributes[2] (one holds the other); keep only one of them",
        "identities[3].namespace: mapped twice, first in identities[0] (namespaces match case-insensitively)",
    ]


PARTS = st.sampled_from(["a", "b", "c"])
KEEP_ONE = "(one holds the other); keep only one of them"


@given(st.lists(st.lists(PARTS, min_size=1, max_size=4).map(".".join), max_size=12))
def test_overlap_lines_are_those_of_comparing_every_pair(paths):
    expected = []
    for index, one in enumerate(paths):
        earlier = paths[:index]
        if one in earlier:
            expected.append(f"attributes[{index}]: listed twice, first as attributes[{earlier.index(one)}]")
            continue
        overlapping = [
            n
            for n, other in enumerate(earlier)
            if f"{one}.".startswith(f"{other}.") or f"{other}.".startswith(f"{one}.")
        ]
        if overlapping:
            expected.append(f"attributes[{index}]: overlaps attributes[{overlapping[0]}] {KEEP_ONE}")

    assert config_problems({**example(), "attributes": paths}) == expected


def test_attribute_may_not_overwrite_the_record_sections():
    data = example()
    data["attributes"] = ["segmentMembership.ups", "bad path"]

    assert config_problems(data) == [
        "attributes[0].path: would overwrite the record's own segmentMembership",
        "attributes[1].path: must be a dotted field path such as person.email",
    ]


def test_stream_settings_for_a_created_stream_are_refused_for_an_existing_one():
    data = example()
    data["stream"] = {"name": "existing", "create": False, "shards": 2, "retentionHours": 48}

    assert config_problems(data) == [
        "stream.shards: only for a stream this pipeline creates (stream.create: true)",
        "stream.retentionHours: only for a stream this pipeline creates (stream.create: true)",
    ]


def test_unreadable_and_malformed_files_are_clear(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read the file: No such file or directory"):
        load_config(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": ')
    with pytest.raises(ConfigError, match="not valid JSON: Expecting value at line 1 column 10"):
        load_config(broken)


def test_settings_need_only_the_config_file():
    settings = Settings.from_environ({"DESTINATION_CONFIG_FILE": "/var/task/destination.json"})

    assert settings.destination_config_file == Path("/var/task/destination.json")
    assert settings.rejects_queue_url is None
    assert settings.writer_concurrency == 4


def test_settings_problems_are_named():
    with pytest.raises(ConfigError) as raised:
        Settings.from_environ({"WRITER_CONCURRENCY": "many"})

    assert raised.value.problems == [
        "DESTINATION_CONFIG_FILE: required (the path of the destination config file)",
        "WRITER_CONCURRENCY: must be a positive whole number",
    ]


def test_a_fifo_ingest_takes_lambdas_fifo_limits_as_its_defaults_and_refuses_more():
    data = example()
    data["ingest"] = {"fifo": True}
    ingest = parse_config(data).ingest
    assert (ingest.fifo, ingest.batch_size, ingest.max_batching_window_seconds) == (True, 10, 0)

    data["ingest"] = {"fifo": True, "batchSize": 11, "maxBatchingWindowSeconds": 1}
    assert config_problems(data) == [
        "ingest.batchSize: at most 10 with ingest.fifo (Lambda's limit for FIFO)",
        "ingest.maxBatchingWindowSeconds: must be 0 with ingest.fifo (Lambda has none for FIFO)",
    ]


def test_alarm_e_mail_goes_only_to_the_stacks_own_topic_and_must_be_an_address():
    data = example()
    data["alarms"] = {"topicArn": "arn:aws:sns:us-east-1:123456789012:on-call", "email": ["ops@example.com"]}
    assert config_problems(data) == [
        "alarms.email: only for the stack's own topic; subscribe to alarms.topicArn where that topic is managed"
    ]
    data["alarms"] = {"email": ["jane.doe"], "latencyP99Seconds": 0}
    problems = config_problems(data)
    assert problems == [
        "alarms.email[0]: must be an e-mail address such as ops@example.com",
        "alarms.latencyP99Seconds: Input should be greater than or equal to 1",
    ]
    assert not any("jane.doe" in line for line in problems)


def test_record_size_defaults_to_every_streams_1_mib_and_goes_up_to_10_mib():
    data = example()
    assert parse_config(data).stream.max_record_size_kib == 1024
    data["stream"]["maxRecordSizeKiB"] = 10_241
    assert config_problems(data) == ["stream.maxRecordSizeKiB: Input should be less than or equal to 10240"]


def test_a_key_given_twice_is_refused_rather_than_the_first_silently_lost(tmp_path: Path):
    # given a config whose "alarms" is given twice: JSON would keep only the second
    text = EXAMPLE_CONFIG.read_text().rstrip().removesuffix("}")
    path = tmp_path / "twice.json"
    path.write_text(text + ', "alarms": {"email": ["ops@example.com"]}, "alarms": {"latencyP99Seconds": 60}}')

    # when it is loaded, then the key is named, once
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.problems == ["alarms: given twice in one object (only one may be)"]
