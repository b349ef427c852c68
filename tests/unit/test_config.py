import json
from pathlib import Path

import pytest

from kinesis_export.config import ConfigError, Settings, load_config, parse_config
from tests.support import EXAMPLE_CONFIG


def problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return raised.value.problems


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

    assert problems(data) == [
        "name: must be 1-40 lowercase letters, digits or hyphens",
        "stream.region: must be an AWS region code such as us-east-1",
        "segments: required",
        "identities[1].transform: Input should be 'sha256'",
        "partitonKey: unknown field",
    ]


def test_conflicting_entries_are_named():
    data = example()
    data["segments"].append({"id": data["segments"][0]["id"]})
    data["attributes"] += ["person", "person.email"]
    data["identities"].append({"namespace": "ecid"})

    assert problems(data) == [
        "segments[2].id: segment '7841ba61-23c1-4bb3-a495-00d3g5fe1e93' is mapped twice",
        "attributes[3]: 'person' overlaps 'person.email'; keep only one of them",
        "attributes[3]: 'person' overlaps 'person.name.lastName'; keep only one of them",
        "attributes[4]: 'person.email' is listed twice",
        "attributes[4]: 'person.email' overlaps 'person'; keep only one of them",
        "identities[3].namespace: 'ecid' is mapped twice (namespaces match case-insensitively)",
    ]


def test_attribute_may_not_overwrite_the_record_sections():
    data = example()
    data["attributes"] = ["segmentMembership.ups", "bad path"]

    assert problems(data) == [
        "attributes[0].path: would overwrite the record's own segmentMembership",
        "attributes[1].path: must be a dotted field path such as person.email",
    ]


def test_stream_settings_for_a_created_stream_are_refused_for_an_existing_one():
    data = example()
    data["stream"] = {"name": "existing", "create": False, "shards": 2, "retentionHours": 48}

    assert problems(data) == [
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
