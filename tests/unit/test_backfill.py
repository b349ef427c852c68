import gzip
import io
import json
from pathlib import Path

import pytest

from kinesis_export.backfill import BackfillStopped, export_items
from kinesis_export.config import load_config
from kinesis_export.deadline import Deadline
from kinesis_export.records import RecordPlan
from kinesis_export.writer import KinesisWriter
from kinesis_export_cli.backfill import (
    FINGERPRINT_SPAN,
    Backfill,
    CheckpointError,
    Progress,
    ProgressBar,
    RateLimit,
    SourceFile,
    fingerprint,
    numbered_batches,
)
from tests.fakes import FakeKinesis
from tests.support import EXAMPLE_CONFIG, profile_event


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


def test_a_batch_of_large_lines_is_cut_by_its_bytes_not_only_its_count():
    # given 12 lines of 10 MiB (as a stream of 10 MiB records may take), shared between the same objects
    line = b"x" * (10 * 1024 * 1024) + b"\n"

    batches = list(numbered_batches(iter([line] * 12), skip_through=0))

    # then no batch holds much more than 32 MiB of them, and every line is in one, in order
    assert [len(batch) for batch in batches] == [4, 4, 4]
    assert [number for batch in batches for number, _ in batch] == list(range(1, 13))


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
    progress = run.run(source("\n".join(lines).encode()))

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


def source(data: bytes, name: str = "members.jsonl") -> SourceFile:
    """A members file held in memory, as `open_source` opens one on disk (gunzipped when its name ends in .gz)."""
    raw = io.BytesIO(data)
    identity = {"size": len(data), "sha256": fingerprint(raw, len(data))}
    lines = gzip.GzipFile(fileobj=raw) if name.endswith(".gz") else raw
    return SourceFile(name, identity, lines)  # type: ignore[arg-type]


def members(*names: str) -> bytes:
    return b"".join(json.dumps(profile_event(name)).encode() + b"\n" for name in names)


def backfill(checkpoint: Path, kinesis: FakeKinesis | None = None) -> Backfill:
    writer = KinesisWriter(kinesis or FakeKinesis(), "s")
    return Backfill(RecordPlan(load_config(EXAMPLE_CONFIG)), writer, RateLimit(10**6, 10**9), checkpoint)


def test_the_fingerprint_reads_only_the_size_and_both_ends_of_a_large_file():
    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            Counting.read_bytes += len(data)
            return data

    data = b"x" * (10 * FINGERPRINT_SPAN)
    first = fingerprint(Counting(data), len(data))

    assert Counting.read_bytes == 2 * FINGERPRINT_SPAN
    assert fingerprint(io.BytesIO(b"y" + data[1:]), len(data)) != first, "the head counts"
    assert fingerprint(io.BytesIO(data[:-1] + b"y"), len(data)) != first, "the tail counts"
    assert fingerprint(io.BytesIO(data + b"x"), len(data) + 1) != first, "the size counts"
    middle = len(data) // 2
    assert fingerprint(io.BytesIO(data[:middle] + b"y" + data[middle + 1 :]), len(data)) == first, (
        "the limit, by design: a change in the middle alone, at the same size, is not seen"
    )


def test_a_finished_run_is_marked_so_and_a_new_file_under_its_name_starts_over(tmp_path):
    checkpoint = tmp_path / "members.checkpoint.json"
    kinesis = FakeKinesis()
    backfill(checkpoint, kinesis).run(source(members("monday-1", "monday-2")))
    assert json.loads(checkpoint.read_text())["finished"] is True

    progress = backfill(checkpoint, kinesis).run(source(members("tuesday-1")))

    assert (progress.line, progress.exported, progress.finished) == (1, 1, True)
    assert [key for key, _ in kinesis.stream] == ["monday-1", "monday-2", "tuesday-1"]


def test_a_rerun_of_a_finished_file_starts_over_and_exports_it_again(tmp_path):
    checkpoint = tmp_path / "members.checkpoint.json"
    kinesis = FakeKinesis()
    backfill(checkpoint, kinesis).run(source(members("member-1")))

    progress = backfill(checkpoint, kinesis).run(source(members("member-1")))

    assert progress.exported == 1
    assert [key for key, _ in kinesis.stream] == ["member-1", "member-1"]


def unfinished(checkpoint: Path, file: SourceFile, line: int) -> None:
    progress = Progress(file.name, file.identity, "s", line=line, exported=line)
    checkpoint.write_text(json.dumps(progress.__dict__))


def test_an_unfinished_checkpoint_resumes_after_its_line(tmp_path):
    checkpoint = tmp_path / "members.checkpoint.json"
    data = members("member-1", "member-2", "member-3")
    unfinished(checkpoint, source(data), line=2)
    kinesis = FakeKinesis()

    progress = backfill(checkpoint, kinesis).run(source(data))

    assert [key for key, _ in kinesis.stream] == ["member-3"]
    assert (progress.line, progress.exported, progress.finished) == (3, 3, True)


def test_an_unfinished_checkpoint_of_another_file_is_refused_until_restart(tmp_path):
    checkpoint = tmp_path / "members.checkpoint.json"
    unfinished(checkpoint, source(members("old-1", "old-2")), line=1)
    kinesis = FakeKinesis()

    with pytest.raises(CheckpointError, match=r"does not match members\.jsonl .*pass --restart"):
        backfill(checkpoint, kinesis).run(source(members("new-1")))
    assert kinesis.stream == [], "nothing is sent"

    progress = backfill(checkpoint, kinesis).run(source(members("new-1")), restart=True)
    assert [key for key, _ in kinesis.stream] == ["new-1"] and progress.finished


def test_a_checkpoint_past_the_end_of_the_file_is_refused(tmp_path):
    checkpoint = tmp_path / "members.checkpoint.json"
    data = members("member-1", "member-2")
    unfinished(checkpoint, source(data), line=10)

    with pytest.raises(CheckpointError, match=r"past the end of members\.jsonl: it has 2 lines, .* says 10"):
        backfill(checkpoint).run(source(data))


@pytest.mark.parametrize(
    ("saved", "why"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a JSON object"),
        (
            '{"source": "members.jsonl", "line": 10}',
            "file, destination, rejects_bytes, exported, filtered, rejected, failed, finished",
        ),
        (json.dumps({**Progress("m").__dict__, "line": -1, "extra": 1}), "line, extra"),
        (json.dumps({**Progress("m").__dict__, "finished": "no"}), "finished"),
    ],
)
def test_a_corrupt_checkpoint_is_refused_naming_what_is_wrong_until_restart(tmp_path, saved, why):
    checkpoint = tmp_path / "members.checkpoint.json"
    checkpoint.write_text(saved)

    with pytest.raises(CheckpointError, match="cannot be read") as refused:
        backfill(checkpoint).run(source(members("member-1")))

    assert why in str(refused.value) and "--restart" in str(refused.value)
    assert backfill(checkpoint).run(source(members("member-1")), restart=True).exported == 1


def test_the_lines_before_a_truncated_gzip_are_exported_and_checkpointed(tmp_path):
    checkpoint = tmp_path / "members.checkpoint.json"
    data = gzip.compress(members(*(f"member-{n}" for n in range(1, 1201))))
    kinesis = FakeKinesis()

    with pytest.raises(BackfillStopped, match=r"members\.jsonl\.gz is truncated or corrupt after line ([\d,]+)"):
        backfill(checkpoint, kinesis).run(source(data[: len(data) * 9 // 10], "members.jsonl.gz"))

    saved = json.loads(checkpoint.read_text())
    assert saved["line"] > 1000 and saved["exported"] == saved["line"] and not saved["finished"]
    assert [key for key, _ in kinesis.stream] == [f"member-{n}" for n in range(1, saved["line"] + 1)]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x1f\x8b not gzip", "not gzip data"),
        (b"plain text\n", "not gzip data"),
        (gzip.compress(b"x" * 100_000)[:20] + b"\xff" * 200, "cannot be decompressed"),
    ],
)
def test_a_corrupt_gzip_stops_the_run_naming_why_not_its_bytes(tmp_path, data, why):
    with pytest.raises(BackfillStopped, match=why) as stopped:
        backfill(tmp_path / "m.checkpoint.json").run(source(data, "members.jsonl.gz"))
    assert "plain" not in str(stopped.value)


def test_a_byte_order_mark_and_crlf_line_ends_are_read_and_invalid_utf8_is_one_reject(tmp_path):
    lines = members("member-1", "member-2", "member-3").splitlines()
    lines[1] = lines[1].replace(b'"e-1"', b'"e-\xff"')
    kinesis = FakeKinesis()
    run = backfill(tmp_path / "m.checkpoint.json", kinesis)

    progress = run.run(source(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n\r\n"))

    assert [key for key, _ in kinesis.stream] == ["member-1", "member-3"]
    assert (progress.exported, progress.rejected, progress.line) == (2, 1, 3)
    assert json.loads(run.rejects_file.read_text())["line"] == 2


def test_records_not_written_stop_the_run_without_the_callers_name(tmp_path):
    denied = FakeKinesis(lambda call, entries: {0: "AccessDeniedException"})
    checkpoint = tmp_path / "m.checkpoint.json"

    with pytest.raises(BackfillStopped, match=r"access denied to kinesis:PutRecords \(AccessDeniedException\)"):
        backfill(checkpoint, denied).run(source(members("member-1")))
    assert not checkpoint.exists(), "the checkpoint stays before the records"
