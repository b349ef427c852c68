"""The README's config, event and record examples are what the code reads and writes."""

import json
import re

from kinesis_export.config import parse_config
from kinesis_export.events import parse_event
from kinesis_export.records import Record, RecordPlan
from tests.support import ROOT


def test_readme_example_event_becomes_the_readme_example_record():
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    config, event, record = blocks[0], blocks[1], blocks[2]

    built = RecordPlan(parse_config(json.loads(config))).build(parse_event(event))

    assert isinstance(built, Record)
    assert json.loads(built.data) == json.loads(record)
    assert list(json.loads(built.data)) == list(json.loads(record))
