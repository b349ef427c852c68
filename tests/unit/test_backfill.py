import io
import json

import pytest

from kinesis_export.backfill import (
    Backfill,
    BackfillStopped,
    Progress,
    ProgressBar,
    RateLimit,
    export_items,
    numbered_batches,
)
from kinesis_export.deadline import Deadline
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from tests.fakes import FakeKinesis
from tests.support import profile_event


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limit_holds_records_per_second_within_ten_percent():
    clock = FakeClock()
    rate = RateLimit(1000, 10**12, clock=clock, sleep=clock.sleep)

    starts = []
    for _ in range(20):
        rate.wait(500, 500 * 300)
        starts.append(clock.now)
        clock.now += 0.01  # the call itself

    # What was sent before the last batch, over the time it took to be allowed to send it.
    sent_per_second = 19 * 500 / (starts[-1] - starts[0])
    assert 900 <= sent_per_second <= 1100


def test_rate_limit_holds_bytes_per_second_and_slows_on_throttling():
    clock = FakeClock()
    rate = RateLimit(10**9, 1024 * 1024, clock=clock, sleep=clock.sleep)

    for _ in range(10):
        rate.wait(100, 512 * 1024)
    rate.throttled()

    assert clock.now == 4.5  # ten half-mebibyte batches at 1 MiB/s: the tenth may start at 4.5 s
    assert rate.bytes_per_second == 0.7 * 1024 * 1024


def test_lines_come_numbered_in_batches_after_the_checkpoint():
    lines = [b"a\n", b"\n", b"b\n", b"c\n"] + [b"x\n"] * 600

    batches = list(numbered_batches(iter(lines), skip_through=2))

    assert [number for number, _ in batches[0][:2]] == [3, 4]
    assert [len(batch) for batch in batches] == [500, 102]


def test_progress_bar_shows_counts_and_time_left():
    out = io.StringIO()
    clock = FakeClock()
    bar = ProgressBar(out, clock=clock)

    bar(Progress("f", exported=0), 0.0)
    clock.now = 10.0
    bar(Progress("f", line=5000, exported=4900, filtered=50, rejected=50), 0.5)

    last = out.getvalue().split("\r")[-1]
    assert "50%" in last and "500 rec/s" in last and "exported 4,900" in last and "rejected 50" in last
    assert "ETA 0:10" in last


def test_a_checkpoint_of_another_file_is_refused(tmp_path, example_config):
    checkpoint = tmp_path / "members.checkpoint.json"
    checkpoint.write_text(json.dumps({"source": "other.jsonl", "line": 10}))

    run = Backfill(RecordPlan(example_config), KinesisWriter(FakeKinesis(), "s"), RateLimit(1, 1), checkpoint)

    with pytest.raises(BackfillStopped, match=r"belongs to other\.jsonl, not members\.jsonl"):
        run.run("members.jsonl", io.BytesIO(b""), lambda: 1.0)


def test_distributed_map_batch_reports_bad_items_and_raises_when_records_are_not_written(example_config):
    good = profile_event("member-1")
    items = [good, {"eventId": "no identities"}, profile_event("member-2")]
    kinesis = FakeKinesis()

    result = export_items(items, RecordPlan(example_config), KinesisWriter(kinesis, "s"), Deadline.after(5))

    assert result["exported"] == 2 and result["filtered"] == 0
    assert [(r["item"], r["code"]) for r in result["rejected"]] == [(1, "INVALID_EVENT")]
    assert [key for key, _ in kinesis.stream] == ["member-1", "member-2"]

    denied = FakeKinesis(lambda call, entries: {0: "AccessDeniedException"})
    with pytest.raises(BackfillStopped, match="1 of 3 records not written: AccessDeniedException"):
        export_items(items, RecordPlan(example_config), KinesisWriter(denied, "s"), Deadline.after(5))


def test_a_line_holding_an_array_is_rejected_as_one_line_backfill_lines_are_one_event_each(tmp_path, example_config):
    # given a file whose second line holds an array of events
    lines = [json.dumps(profile_event("member-1")), json.dumps([profile_event("member-2"), profile_event("member-3")])]
    kinesis = FakeKinesis()
    run = Backfill(
        RecordPlan(example_config), KinesisWriter(kinesis, "s"), RateLimit(10**6, 10**9), tmp_path / "m.checkpoint"
    )

    # when it is backfilled
    progress = run.run("members.jsonl", io.BytesIO("\n".join(lines).encode()), lambda: 1.0)

    # then the array line is one reject, as any line that is not a JSON object
    assert (progress.exported, progress.rejected) == (1, 1)
    assert [key for key, _ in kinesis.stream] == ["member-1"]
    assert json.loads(run.rejects_file.read_text()) == {
        "line": 2,
        "code": "INVALID_EVENT",
        "reason": "body must be a JSON object (an event, or an EventBridge envelope)",
    }


def test_a_distributed_map_item_holding_an_array_is_rejected_as_one_item(example_config):
    items = [[profile_event("member-1")], profile_event("member-2")]

    result = export_items(items, RecordPlan(example_config), KinesisWriter(FakeKinesis(), "s"), Deadline.after(5))

    assert result["exported"] == 1
    assert [(r["item"], r["code"]) for r in result["rejected"]] == [(0, "INVALID_EVENT")]


@pytest.mark.parametrize("item", [42, None, "a line of text", True])
def test_a_distributed_map_item_that_is_no_object_is_rejected_and_never_blocks_the_others(example_config, item):
    items = [item, profile_event("member-2")]

    result = export_items(items, RecordPlan(example_config), KinesisWriter(FakeKinesis(), "s"), Deadline.after(5))

    assert result["exported"] == 1
    assert result["rejected"] == [
        {"item": 0, "code": "INVALID_EVENT", "reason": "must be a JSON object (an event, or an EventBridge envelope)"}
    ]


def test_a_distributed_map_item_in_an_eventbridge_envelope_is_exported_as_a_line_would_be(example_config):
    item = {"version": "0", "detail-type": "Segment Qualification", "detail": profile_event("member-1")}

    result = export_items([item], RecordPlan(example_config), KinesisWriter(FakeKinesis(), "s"), Deadline.after(5))

    assert (result["exported"], result["rejected"]) == (1, [])
