"""The README's config, event and record examples are what the code reads and writes."""

import json
import re

import pytest

from kinesis_export.config import ConfigError, parse_config
from kinesis_export.events import parse_event
from kinesis_export.pipeline import prepare_messages
from kinesis_export.records import Record, RecordPlan
from tests.support import ROOT


def first_json_under(heading: str) -> str:
    """The first JSON block of the README section that starts with `heading`."""
    section = (ROOT / "README.md").read_text().split(f"\n{heading}", 1)[1]
    match = re.search(r"```json\n(.*?)```", section, re.S)
    assert match, f"no JSON block under {heading}"
    return match.group(1)


def test_readme_example_event_becomes_the_readme_example_record():
    config = first_json_under("## Destination config")
    event = first_json_under("## Input")
    record = first_json_under("## Output")

    built = RecordPlan(parse_config(json.loads(config))).build(parse_event(event))

    assert isinstance(built, Record)
    assert json.loads(built.data) == json.loads(record)
    assert list(json.loads(built.data)) == list(json.loads(record))


def test_readme_array_example_is_one_message_of_events_exported_in_its_order():
    config = parse_config(json.loads(first_json_under("## Destination config")))
    array = first_json_under("### Many events in one message")

    prepared = prepare_messages([("message", array)], RecordPlan(config))

    assert prepared.rejected == [] and prepared.sources == [("message", 0), ("message", 1)]
    statuses = [next(iter(json.loads(r.data)["segmentMembership"]["ups"].values()))["status"] for r in prepared.records]
    assert statuses == ["realized", "exited"]


def test_readme_policy_example_fails_as_the_readme_says():
    config = json.loads(first_json_under("## Destination config"))
    fragment = json.loads("{" + first_json_under("### Data governance") + "}")
    expected = re.search(r"```\n(attributes\[0\].*?)\n```", (ROOT / "README.md").read_text()).group(1)

    with pytest.raises(ConfigError) as raised:
        parse_config({**config, **fragment})

    assert raised.value.problems == [expected]
