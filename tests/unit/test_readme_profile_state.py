"""The README's worked example of profile state is what the exporter does: three change events in, three records out."""

from __future__ import annotations

import json
import re

from kinesis_export.config import parse_config
from kinesis_export.deadline import Deadline
from kinesis_export.pipeline import export_batch
from kinesis_export.profiles import ProfilePlan, Profiles
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis, FakeProfileStore
from tests.support import EXAMPLE_CONFIG, ROOT


def json_blocks_under(heading: str) -> list[str]:
    """The JSON blocks of the README section that starts with `heading`, up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    section = (ROOT / "README.md").read_text().split(f"\n{heading}", 1)[1].split(f"\n{level} ", 1)[0]
    return re.findall(r"```json\n(.*?)```", section, re.S)


def test_readme_worked_example_three_change_events_become_the_three_records_shown():
    # given the example destination with the profile state fragment the README shows
    config = json.loads(EXAMPLE_CONFIG.read_text())
    fragment = json.loads("{" + json_blocks_under("## Profile state")[0] + "}")
    events, records = (json.loads(block) for block in json_blocks_under("### A worked example"))
    plan = ProfilePlan(parse_config({**config, **fragment}))
    profiles = Profiles(plan, FakeProfileStore(), fragment["profileState"]["ttlDays"])
    kinesis = FakeKinesis()

    # when the three events come, each in an invocation of its own
    for n, event in enumerate(events):
        report = export_batch(
            [(f"m{n}", json.dumps(event))],
            plan.records,
            KinesisWriter(kinesis, "segment-exports"),
            None,
            Deadline.after(10),
            profiles=profiles,
        )
        assert report.failures == {}

    # then the stream holds the three records shown, keys in the order shown, the last with both segments
    assert [key for key, _ in kinesis.stream] == ["14575006536349286404619648085736425115"] * 3
    written = [json.loads(data) for _, data in kinesis.stream]
    assert written == records
    assert [list(record) for record in written] == [list(record) for record in records]
    assert len(written[2]["segmentMembership"]["ups"]) == 2 and "person" in written[2]
